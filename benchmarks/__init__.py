"""Speed and memory goals, each measured beside a peer in the same run."""

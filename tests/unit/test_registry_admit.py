"""What the transport asks the seal to admit: ``host:port`` as it will be dialled.

A host the registry names (a token realm, a storage redirect) is put to
``admit`` before it is contacted. When its URL writes no port, the port
dialled is the scheme's default (RFC 9110 §4.2.1, §4.2.2), and that is the
port the seal must admit: a plain-HTTP realm admitted at 443 would be refused
when dialled at 80. Nothing here opens a socket.
"""

from __future__ import annotations

import pytest

from airlock_registry.transport import Transport
from appliance.load.connect import guarded


def _admitted(url: str, *, plain_http: bool = False) -> list[str]:
    asked: list[str] = []
    transport = Transport(
        "registry.test:5000",
        plain_http=plain_http,
        admit=lambda netloc, _why: asked.append(netloc),
    )
    transport._origin(url, "token realm")
    return asked


@pytest.mark.parametrize(
    ("url", "admitted"),
    [
        ("http://auth.test/token", "auth.test:80"),
        ("https://auth.test/token", "auth.test:443"),
        ("http://auth.test:8080/token", "auth.test:8080"),
        ("https://[::1]/token", "[::1]:443"),
        ("http://[::1]:5001/token", "[::1]:5001"),
        ("https://storage.test/blob?sig=x", "storage.test:443"),
    ],
)
def test_a_named_host_is_admitted_at_the_port_it_is_dialled(
    url: str, admitted: str
) -> None:
    assert _admitted(url, plain_http=url.startswith("http:")) == [admitted]


def test_the_registry_itself_is_not_put_to_admit() -> None:
    assert _admitted("http://registry.test:5000/v2/", plain_http=True) == []


def test_a_refusal_from_admit_stops_the_origin() -> None:
    def refuse(netloc: str, why: str) -> None:
        raise PermissionError(f"{netloc} ({why})")

    transport = Transport("registry.test:5000", admit=refuse)
    with pytest.raises(PermissionError, match=r"auth\.test:80"):
        transport._origin("http://auth.test/t", "token realm")


# The rule the registry door applies before admitting a host the registry
# named (appliance.load.connect.guarded): a loopback, link-local or
# unspecified IP literal only when the registry is on that kind of address
# too, or when --allow-host names it. Pure: nothing is dialled.
REMOTE = "registry.gap.local"


@pytest.mark.parametrize(
    ("netloc", "kind"),
    [
        ("169.254.1.1:80", "link-local"),
        ("[fe80::1]:443", "link-local"),
        ("[fe80::1%25eth0]:443", "link-local"),  # with a zone (RFC 6874)
        ("127.0.0.1:80", "loopback"),
        ("127.9.9.9:8080", "loopback"),
        ("[::1]:443", "loopback"),
        ("[::ffff:127.0.0.1]:80", "loopback"),  # IPv4-mapped, dialled as IPv4
        ("[::ffff:169.254.1.1]:80", "link-local"),
        ("127.1:80", "loopback"),  # inet_aton(3) short form, as getaddrinfo dials it
        ("0x7f000001:80", "loopback"),
        ("2130706433:80", "loopback"),
        ("0251.0376.0001.0001:80", "link-local"),  # octal 169.254.1.1
        ("localhost:80", "loopback"),  # RFC 6761 §6.3
        ("LOCALHOST.:80", "loopback"),
        ("metadata.localhost:80", "loopback"),
        ("0.0.0.0:80", "unspecified"),
        ("[::]:80", "unspecified"),
    ],
)
def test_an_internal_literal_named_by_a_remote_registry_is_refused(
    netloc: str, kind: str | None
) -> None:
    refused = guarded(netloc, registry=REMOTE, allowed=set())
    if kind is None:
        assert refused is None
    else:
        assert refused is not None
        assert refused.startswith((f"a {kind} address", f"an {kind} address"))
        assert REMOTE in refused


# Cloud instance metadata: refused whatever the registry's own address, and
# whichever range the address is in (link-local, RFC 6598, RFC 4193, public).
METADATA = [
    "169.254.169.254:80",  # AWS, Google Cloud, Azure, Oracle
    "[::ffff:169.254.169.254]:80",  # IPv4-mapped, dialled as IPv4
    "0251.0376.0251.0376:80",  # octal, as inet_aton(3) reads it
    "2852039166:80",  # one decimal number
    "169.254.170.2:80",  # AWS ECS task metadata
    "169.254.170.23:80",  # AWS EKS Pod Identity
    "169.254.42.42:80",  # Scaleway
    "168.63.129.16:80",  # Azure WireServer: a public address
    "100.100.100.200:80",  # Alibaba Cloud: RFC 6598 shared space
    "192.0.0.192:80",  # Oracle Cloud Classic
    "[fd00:ec2::254]:80",  # AWS IPv6: unique local, like in-gap storage
    "[FD00:EC2:0::254]:443",
    "[fd00:ec2::23]:80",  # AWS's other instance services in fd00:ec2::/32
    "[fd00:ec2::254%25eth0]:80",  # with a zone (RFC 6874)
    "[fd20:ce::254]:80",  # Google Cloud IPv6
    "[fd00:c1::a9fe:a9fe]:80",  # Oracle Cloud IPv6
    "[fd00:42::42]:80",  # Scaleway IPv6
    "[fe80::a9fe:a9fe]:80",  # OpenStack IPv6: link-local, refused beside a link-local registry too
    "169.254.0.23:80",  # Tencent Cloud
    "[fd00:a9fe:a9fe::1]:80",  # Akamai/Linode IPv6
    "[fd00:100::100:200]:80",  # Alibaba Cloud IPv6
    "[fd00:ec2::0.0.2.84]:80",  # fd00:ec2::254 with its last 32 bits dotted
    "0xa9fea9fe:80",
    "169.16689662:80",  # inet_aton(3): 169 then 24 bits
    "metadata.tencentyun.com:80",
    "metadata.google.internal:80",  # the names Google Cloud documents
    "METADATA.GOOGLE.INTERNAL.:80",
    "metadata.goog:443",
]


@pytest.mark.parametrize("netloc", METADATA)
@pytest.mark.parametrize(
    "registry", [REMOTE, "127.0.0.1", "169.254.9.9", "10.0.0.5", "[fd00::5]"]
)
def test_cloud_instance_metadata_is_refused_whatever_the_registry(
    netloc: str, registry: str
) -> None:
    refused = guarded(netloc, registry=registry, allowed=set())
    assert (
        refused
        == "a cloud instance-metadata address, which no registry has reason to name"
    )


@pytest.mark.parametrize(
    "netloc",
    [
        "169.254.169.253:80",  # the neighbours of a metadata address are not it
        "168.63.129.17:80",
        "100.100.100.201:80",
        "[fd00:ec3::254]:80",
        "[fd20:ce::255]:80",
        "metadata.google.internal.example:80",
        "google.internal:80",
    ],
)
def test_only_the_metadata_addresses_themselves_are_metadata(netloc: str) -> None:
    refused = guarded(netloc, registry="169.254.9.9", allowed=set())
    assert refused is None or "metadata" not in refused


@pytest.mark.parametrize(
    ("allowed", "netloc"),
    [
        ({"FD00:EC2::254"}, "[fd00:ec2::254]:80"),
        ({"fd00:ec2::254"}, "[fd00:ec2:0::254]:80"),
        ({"[fd00:0ec2:0000:0000:0000:0000:0000:0254]:80"}, "[fd00:ec2::254]:80"),
        ({"metadata.goog"}, "METADATA.GOOG.:443"),
        ({"169.254.169.254"}, "0251.0376.0251.0376:80"),
        ({"0xa9fea9fe:80"}, "169.254.169.254:80"),
    ],
)
def test_allow_host_names_a_host_however_either_spells_it(
    allowed: set[str], netloc: str
) -> None:
    assert guarded(netloc, registry=REMOTE, allowed=allowed) is None


@pytest.mark.parametrize(
    ("registry", "netloc"),
    [
        (
            "169.254.169.254",
            "169.254.1.1:80",
        ),  # a registry on 169.254.169.254 is link-local
        ("100.100.100.200", "100.100.100.200:8443"),  # its own host, at another port
        ("[fd00:ec2::254]", "[FD00:EC2::254]:444"),
    ],
)
def test_a_registry_on_a_metadata_address_is_judged_by_its_range_and_host(
    registry: str, netloc: str
) -> None:
    assert guarded(netloc, registry=registry, allowed=set()) is None


def test_a_registry_on_a_metadata_address_is_told_apart_from_its_range() -> None:
    refused = guarded("127.0.0.1:80", registry="169.254.169.254", allowed=set())
    assert refused == (
        "a loopback address, and the registry (169.254.169.254) is not on one"
    )
    refused = guarded("[fd00:ec2::254]:80", registry="169.254.169.254", allowed=set())
    assert refused is not None
    assert "instance-metadata" in refused


def test_allow_host_admits_a_metadata_address_it_names() -> None:
    assert (
        guarded("[fd00:ec2::254]:80", registry=REMOTE, allowed={"fd00:ec2::254"})
        is None
    )
    assert (
        guarded("metadata.goog:443", registry=REMOTE, allowed={"metadata.goog:443"})
        is None
    )
    assert (
        guarded("metadata.goog:80", registry=REMOTE, allowed={"metadata.goog:443"})
        is not None
    )


@pytest.mark.parametrize(
    "netloc",
    [
        "10.0.0.5:9000",  # RFC 1918: in-gap registries and their storage live there
        "192.168.1.20:443",
        "172.16.0.1:443",
        "[fd00::5]:443",  # RFC 4193 unique local
        "storage.gap.local:443",  # names are not resolved to decide
        "203.0.113.7:443",
        "256.1.1.1:80",  # no literal at all: a name (that will not resolve)
        "08.0.0.1:80",  # not octal: a name too
    ],
)
def test_private_public_and_named_hosts_are_not_refused(netloc: str) -> None:
    assert guarded(netloc, registry=REMOTE, allowed=set()) is None


@pytest.mark.parametrize(
    ("netloc", "registry"),
    [
        ("127.0.0.1:5001", "127.0.0.1"),
        ("127.0.0.1:5001", "[::1]"),  # loopback either family
        ("[::1]:5001", "localhost"),
        ("169.254.1.1:80", "169.254.9.9"),
        ("0.0.0.0:80", "0.0.0.0"),  # noqa: S104 - a host named, nothing bound
    ],
)
def test_a_registry_on_the_same_kind_of_address_may_name_it(
    netloc: str, registry: str
) -> None:
    assert guarded(netloc, registry=registry, allowed=set()) is None


@pytest.mark.parametrize(
    ("registry", "netloc"),
    [
        ("127.0.0.1", "169.254.169.254:80"),
        ("[::1]", "[fe80::1]:80"),
        ("127.0.0.1", "0.0.0.0:5001"),
        ("169.254.9.9", "127.0.0.1:80"),
        ("10.0.0.5", "127.0.0.1:80"),  # a private registry is not a loopback one
    ],
)
def test_a_registry_on_another_kind_of_address_may_not(
    registry: str, netloc: str
) -> None:
    assert guarded(netloc, registry=registry, allowed=set()) is not None


@pytest.mark.parametrize(
    ("allowed", "admitted"),
    [
        ({"169.254.169.254:80"}, True),
        ({"169.254.169.254"}, True),  # HOST alone: any port
        ({"169.254.169.254:8080"}, False),  # another port
        ({"169.254.169.25"}, False),
        ({"metadata.internal:80"}, False),
    ],
)
def test_allow_host_admits_exactly_what_it_names(
    allowed: set[str], *, admitted: bool
) -> None:
    refused = guarded("169.254.169.254:80", registry=REMOTE, allowed=allowed)
    assert (refused is None) is admitted


@pytest.mark.parametrize(
    ("allowed", "netloc", "admitted"),
    [
        ({"fe80::1"}, "[fe80::1]:443", True),  # a bare IPv6 literal: any port
        ({"[fe80::1]"}, "[fe80::1]:80", True),
        ({"[fe80::1]:443"}, "[fe80::1]:443", True),
        ({"[fe80::1]:443"}, "[fe80::1]:80", False),
        ({"fe80::1"}, "[fe80::2]:443", False),
        ({"fe80::1:443"}, "[fe80::1]:443", False),  # one address, not fe80::1 at 443
    ],
)
def test_allow_host_reads_an_ipv6_literal_as_rfc_3986_writes_it(
    allowed: set[str], netloc: str, *, admitted: bool
) -> None:
    refused = guarded(netloc, registry=REMOTE, allowed=allowed)
    assert (refused is None) is admitted

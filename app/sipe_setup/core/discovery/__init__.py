"""Server discovery the way SIPE does it, run concurrently and reported in SIPE's order.

Entry point: :func:`discover`. The plan alone (no I/O): :func:`build_plan`.
"""

from __future__ import annotations

from .autodiscover import (
    AutodiscoverDocument,
    AutodiscoverParseError,
    AutodiscoverSettings,
    default_user_agent,
    parse_autodiscover_document,
)
from .dns import Nameserver, ResolverSettings, parse_nameserver
from .engine import (
    AutodiscoverFinished,
    CandidateFound,
    DiscoveryEvent,
    DiscoveryOptions,
    DiscoveryRun,
    EventCallback,
    QueryFinished,
    QueryStarted,
    ServerSelected,
    discover,
)
from .model import (
    JSON_SCHEMA_VERSION,
    AutodiscoverAttempt,
    AutodiscoverOutcome,
    AutodiscoverServer,
    Candidate,
    CandidateSource,
    DiscoveryMode,
    DiscoveryResult,
    DiscoveryWarning,
    DnsQueryResult,
    QueryOutcome,
    QueryPurpose,
    RecordType,
    SrvTarget,
    WarningCode,
)
from .plan import (
    AddressLookup,
    AutodiscoverStart,
    DiscoveryPlan,
    SrvLookup,
    build_plan,
    connect_transport,
    is_inside_domain,
    recommended_records,
)

__all__ = [
    "JSON_SCHEMA_VERSION",
    "AddressLookup",
    "AutodiscoverAttempt",
    "AutodiscoverDocument",
    "AutodiscoverFinished",
    "AutodiscoverOutcome",
    "AutodiscoverParseError",
    "AutodiscoverServer",
    "AutodiscoverSettings",
    "AutodiscoverStart",
    "Candidate",
    "CandidateFound",
    "CandidateSource",
    "DiscoveryEvent",
    "DiscoveryMode",
    "DiscoveryOptions",
    "DiscoveryPlan",
    "DiscoveryResult",
    "DiscoveryRun",
    "DiscoveryWarning",
    "DnsQueryResult",
    "EventCallback",
    "Nameserver",
    "QueryFinished",
    "QueryOutcome",
    "QueryPurpose",
    "QueryStarted",
    "RecordType",
    "ResolverSettings",
    "ServerSelected",
    "SrvLookup",
    "SrvTarget",
    "WarningCode",
    "build_plan",
    "connect_transport",
    "default_user_agent",
    "discover",
    "is_inside_domain",
    "parse_autodiscover_document",
    "parse_nameserver",
    "recommended_records",
]

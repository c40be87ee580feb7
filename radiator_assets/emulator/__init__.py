"""A local Yandex Tracker emulator: seeded data generator, HTTP server, faults, mutations.

Every test talks to "Tracker" through this emulator over a real loopback
socket; `radiator emulator` runs it as a process for manual runs and demos.
"""

from radiator_assets.emulator.catalog import STATUS_BLOCKS
from radiator_assets.emulator.faults import Fault, FaultPlan
from radiator_assets.emulator.generator import PROFILES, GenProfile, generate_org
from radiator_assets.emulator.model import DEFAULT_NOW, IssueRecord, Org
from radiator_assets.emulator.server import (
    DEFAULT_ORG_ID,
    DEFAULT_TOKEN,
    RequestRecord,
    TrackerEmulator,
)
from radiator_assets.emulator.truth import (
    Stay,
    all_expected_stays,
    expected_stays,
    stays_from_changelog,
)

__all__ = [
    "DEFAULT_NOW",
    "DEFAULT_ORG_ID",
    "DEFAULT_TOKEN",
    "PROFILES",
    "STATUS_BLOCKS",
    "Fault",
    "FaultPlan",
    "GenProfile",
    "IssueRecord",
    "Org",
    "RequestRecord",
    "Stay",
    "TrackerEmulator",
    "all_expected_stays",
    "expected_stays",
    "generate_org",
    "stays_from_changelog",
]

"""One OpenVINO Core per process, and what OpenVINO says about the devices of this machine."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from core.catalog import Device
from core.errors import InputError

if TYPE_CHECKING:
    import openvino as ov

__all__ = [
    "available_devices",
    "check_device",
    "device_capabilities",
    "device_choices",
    "device_name",
    "disable_telemetry",
    "get_core",
]

_LOCK = threading.Lock()
_CORE: ov.Core | None = None


def disable_telemetry() -> None:
    """OpenVINO and NNCF send anonymous usage data by default; a local tool should not."""
    try:
        from openvino_telemetry.utils.opt_in_checker import ConsentCheckResult, OptInChecker

        OptInChecker().update_result(ConsentCheckResult.DECLINED)
    except Exception:  # telemetry is optional; never fail a run over it
        pass


def get_core() -> ov.Core:
    global _CORE
    with _LOCK:
        if _CORE is None:
            disable_telemetry()
            import openvino as ov

            _CORE = ov.Core()
        return _CORE


def device_name(device: str = "CPU") -> str:
    if device == Device.AUTO:
        return "AUTO (" + ", ".join(device_name(d) for d in available_devices()) + ")"
    try:
        return str(get_core().get_property(device, "FULL_DEVICE_NAME"))
    except Exception:
        return device


def available_devices() -> list[str]:
    return list(get_core().available_devices)


def device_choices() -> list[str]:
    """The devices OpenVINO reports on this machine, then AUTO (which picks among them)."""
    return [*available_devices(), Device.AUTO.value]


def check_device(device: str) -> str:
    """A device OpenVINO has here, or AUTO; anything else is refused with the choices."""
    text = str(device).strip()
    choices = device_choices()
    for choice in choices:
        if text.upper() == choice.upper():
            return choice
    msg = f"unknown device {text!r}; this machine offers {', '.join(choices)}"
    raise InputError(msg)


def device_capabilities(device: str = "CPU") -> list[str]:
    """OPTIMIZATION_CAPABILITIES, e.g. ['FP32', 'FP16', 'INT8', 'BF16', ...]; [] when unknown."""
    try:
        return [str(c) for c in get_core().get_property(device, "OPTIMIZATION_CAPABILITIES")]
    except Exception:
        return []

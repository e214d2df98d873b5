"""One way to show sizes, times, durations and user-supplied text on every page.

`safe` is the one escaping function for anything a user supplied (file names, model names, job
titles, error messages that quote them): it shows the text as itself, never as markdown, LaTeX,
HTML, an image or a link, bare URLs and e-mail addresses included.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = ["MIB", "fmt_mib", "fmt_ms", "fmt_pct", "fmt_time", "format_duration", "joined", "safe"]

MIB = 2**20
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_\[\]<>$~|:#!(){}+\-.=^])")
_AUTOLINK = re.compile(r"(?i)(https?|ftp|file|mailto|www)")
_JOINER = "\u2060"  # WORD JOINER: invisible, but breaks the autolink patterns of GitHub-flavoured markdown


def safe(text: object, *, limit: int = 2000) -> str:
    """User-derived text for st.markdown / st.error / st.toast: shown as itself, never as a link or markup."""
    value = str(text)[:limit].replace("\r", " ").replace("\n", " ")
    value = _MARKDOWN_SPECIAL.sub(r"\\\1", value)
    value = _AUTOLINK.sub(lambda m: m.group(1)[0] + _JOINER + m.group(1)[1:], value)
    return value.replace("@", "@" + _JOINER)


def fmt_mib(size_bytes: float | None) -> str:
    return "—" if size_bytes is None else f"{size_bytes / MIB:.1f} MiB"


def fmt_ms(value: float | None) -> str:
    if value is None:
        return "—"
    return f"{value:.2f} ms" if value < 1 else f"{value:.1f} ms" if value < 100 else f"{value:.0f} ms"


def fmt_pct(value: float | None, digits: int = 1) -> str:
    return "—" if value is None else f"{value * 100:.{digits}f} %"


def fmt_time(value) -> str:
    """'YYYY-MM-DD HH:MM UTC', from an ISO string or epoch seconds."""
    try:
        if isinstance(value, int | float):
            stamp = datetime.fromtimestamp(value, UTC)
        else:
            stamp = datetime.fromisoformat(str(value))
            stamp = stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return "an unknown time"
    return stamp.strftime("%Y-%m-%d %H:%M UTC")


def joined(values) -> str:
    """Distinct values of a measurement condition across runs, e.g. 'latency / throughput'."""
    from core.tradeoffs import distinct_values

    return " / ".join(distinct_values(values)) or "—"


def format_duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    seconds = int(round(seconds))
    if seconds < 60:
        return f"{seconds} s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"

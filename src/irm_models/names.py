"""Names safe to use as a file or folder name."""

from __future__ import annotations

import hashlib
import re


def safe_name(customer_id: str) -> str:
    """A folder name for a customer id: the id when plain (``[A-Za-z0-9._-]``, no leading dot,
    <= 48 characters), else those characters and a hash of the id; never a path or hidden."""
    text = str(customer_id)
    plain = re.sub(r"[^A-Za-z0-9._-]", "_", text)[:48].lstrip(".")
    if plain == text and text:
        return text
    return f"{plain or 'customer'}-{hashlib.sha256(text.encode()).hexdigest()[:12]}"

"""Names of the layers a lowering emits: '<original name>_<part>'."""
from typing import Optional


def sub_name(name: Optional[str], suffix: str) -> Optional[str]:
    """'<name>_<suffix>', or None (Keras picks a name) when `name` is None."""
    return None if name is None else f"{name}_{suffix}"

"""standard encoders and decoders."""

ENCODERS: dict[str, type] = {}
DECODERS: dict[str, type] = {}

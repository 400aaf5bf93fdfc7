"""Files on disk, whoever they belong to: small untrusted files read with bounds (`safe_read`),
`.tar.zst` archives packed and safely extracted (`tar_zst`), directory trees hard-linked and
deleted in the background (`trees`), and byte-code compiled on every core (`bytecode`).

May import: `errors` only. Anything above may import it.
"""

"""The stacks: the table of supported stacks and runtime archive names (`table`, a leaf that
`lib/bootstrap.sh` copies), and which stack this build runs on (`identify`).

May import: `errors`, `cnb/`. Everything else may import it.
"""

"""What a build keeps for the next one, and in what form.

The plan chosen per app from what it declares (`plan`), layers cached as one archive each
(`packed`), launch layers whose files come back only when a step runs Python (`on_demand`),
and the download caches kept to the releases of the last installs (`pruning`).

May import: `errors`, `cnb/`, `files/`. The layers import it; it imports no layer.
"""

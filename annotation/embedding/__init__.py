"""Embed on the workers: a space's encoder computes the vectors its dataset lacks.

`runs.start` plans an EmbedRun (which captions and items lack a vector in the space), cut
into parts on the `gpu` queue; each part embeds its rows with the space's encoder
(sampling/encoders), writes one shard atomically and maps its rows in one transaction,
exactly as an import would. A redelivered part writes the same bytes again and maps nothing
twice. The encoder's fingerprint is recorded on the space at the first embed; a checkpoint
folder whose bytes changed since is refused, so one space never mixes two models.
"""

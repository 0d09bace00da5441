"""The pure core: no I/O. Text processing, clustering, scoring formulas, prompt building, item merging."""

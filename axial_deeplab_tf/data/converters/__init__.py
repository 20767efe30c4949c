"""Dataset converters: validate every example, then write atomic shards."""

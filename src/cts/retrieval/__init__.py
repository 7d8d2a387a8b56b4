"""Notes → chunks → contextual BM25 and semantic retrieval of event-bearing candidate chunks (preprocess stage)."""

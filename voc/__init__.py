"""Voice of the customer: comments as words, their index, a sentiment model.

``text`` (language, tokens, terms), ``index`` (``comment_docs``), ``sentiment`` (train, evaluate,
version). Runs off the hot path, on what ClickHouse stores; the figures' SQL is ``sql.voc``.
"""

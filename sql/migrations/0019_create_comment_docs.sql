-- Comments as the voice-of-the-customer index reads them (`cxpulse voc index`, voc/index.py): one row
-- per stored version of an event with a comment, keyed like touchpoint_events (event_id, version), so a
-- reader joins it to the latest version of each event and takes scores and dimensions from there.
-- comment: the comment as stored (redacted at the edge), what the VOC board and report show.
-- terms: the distinct words and two-word phrases of the comment (Vietnamese words from underthesea's
-- segmenter, e.g. 'giao hàng', 'giao hàng chậm'); words / folded: its words in order, lower-case, with
-- and without diacritics, separated by one space (search). sentiment: the predicted class of a comment
-- without CSAT or NPS when a model that met the quality threshold was active ('' otherwise). Indexing
-- again replaces a row (highest indexed_version): read with FINAL.
CREATE TABLE IF NOT EXISTS comment_docs (
    event_id String,
    version UInt64,
    occurred_at DateTime,
    language String,
    comment String,
    terms Array(String),
    words String,
    folded String,
    sentiment String,
    sentiment_score Float64,
    model_version String,
    indexed_version UInt64
) ENGINE = ReplacingMergeTree(indexed_version)
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (event_id, version);

"""The online template view: the tracker that joins prompts to templates, its
shingle postings, the campaign score over template features, and the allow/deny banks."""

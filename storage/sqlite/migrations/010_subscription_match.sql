-- How a subscription's include keywords pick papers: 'keywords' (as spelled,
-- what every existing subscription did) or 'topic' (also papers about them,
-- by meaning: bot/digest.py). "match" is an SQLite operator, hence match_mode.
ALTER TABLE subscriptions ADD COLUMN match_mode TEXT NOT NULL DEFAULT 'keywords';

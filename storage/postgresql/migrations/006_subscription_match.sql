-- How a subscription's include keywords pick papers: 'keywords' (as spelled,
-- what every existing subscription did) or 'topic' (also papers about them,
-- by meaning: bot/digest.py). Named as on SQLite, where "match" is an operator.
ALTER TABLE subscriptions ADD COLUMN match_mode text NOT NULL DEFAULT 'keywords';

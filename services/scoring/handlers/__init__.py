"""The scoring service's use cases, one handler per use case, grouped by aggregate.

Each handler takes the small Context (database, clock, scheme, audit, the tasks client) and its command
(services/scoring/commands.py); none holds the whole service. ScoringApp (use_cases.py) is the facade the
servicer calls.
"""

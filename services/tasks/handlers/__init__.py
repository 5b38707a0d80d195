"""The tasks service's use cases, one handler per command, grouped by aggregate.

tasks (create and the closed loop's steps), reading (tasks and units), extensions (延期申请) and imports
(the ledger): each handler takes a small context (handlers/context.py) and its command
(handlers/commands.py). services/tasks/use_cases.py is the facade the servicer calls.
"""

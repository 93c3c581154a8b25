"""The `casework` command's subcommands, by job: accounts (users, teams, phones, API
tokens), forms (publishing), submissions (re-running the merge), services (the directory's
import), export (form and case exports) and run (schema upgrades, serving). Each is a plain
click command; ``server.cli`` gathers them under the one group that gives them an
application context. Each command commits its own work: a command is an edge
(``server.db``)."""

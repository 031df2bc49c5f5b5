"""Governance as code: spend limits and repository blocklists managed from reviewed YAML files
(governance/*.yaml) with a plan (the default, a dry run) and an explicit apply.

- `files`: YAML reading with line numbers and one clear error per invalid file.
- `spend_limits`, `blocklists`: each file's schema, plan and apply.
- `audit`: governance.audit_log, one row per write.
- `jobs`: the Dagster jobs (`spend_limits_job`, `repo_blocklists_job`).
"""

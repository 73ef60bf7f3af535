-- The runner's record of builds, in schema ops next to the operations models that read it.
-- The runner runs this before every build; every statement is idempotent.
create schema if not exists ops;

-- One row per `hotdash build`: inserted as running when it starts, closed when it ends,
-- also when it fails (status failed, with the error) or is interrupted (cancelled).
create table if not exists ops.build_runs (
    run_id uuid primary key,
    started_at timestamptz not null default now(),
    ended_at timestamptz,
    status text not null default 'running'
        check (status in ('running', 'success', 'failed', 'cancelled')),
    command_args jsonb not null default '[]',
    error_message text,
    error_type text,
    exit_code integer,
    failed_step text,
    steps jsonb not null default '[]'
);

create index if not exists build_runs_started_at_idx on ops.build_runs (started_at desc);

-- One row per dbt node a build ran (models, seeds, tests, snapshots).
create table if not exists ops.build_run_nodes (
    run_id uuid not null references ops.build_runs (run_id) on delete cascade,
    unique_id text not null,
    name text not null,
    resource_type text not null,
    status text not null,
    rows_affected bigint,
    failures bigint,
    seconds double precision not null,
    message text,
    primary key (run_id, unique_id)
);

-- One row per expectation the contract suites evaluated; the contracts step writes it.
-- stage: source (before staging) or marts (after dbt); severity: error blocks, warn reports.
-- No foreign key: `hotdash contracts` run on its own records under a run id of its own.
create table if not exists ops.contract_results (
    run_id uuid not null,
    stage text not null,
    suite text not null,
    expectation text not null,
    severity text not null,
    success boolean not null,
    unexpected_count bigint,
    sample jsonb,
    recorded_at timestamptz not null default now()
);

create index if not exists contract_results_run_id_idx on ops.contract_results (run_id);

-- status: pass, warn, error (a warn-level check escalates to error above its share), skipped.
alter table ops.contract_results
    add column if not exists status text,
    add column if not exists unexpected_share double precision,
    add column if not exists relation text,
    add column if not exists message text;

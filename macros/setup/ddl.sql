{#-
    The tables a build needs before anything runs, created when missing: the app's facts table
    (production has it already) and the runner's record in schema ops. dbt runs them at
    on-run-start (hotdash_on_run_start), and the runner reads the same bodies from this file
    (runner/setup.py), so plain `dbt build` and `hotdash build` start from one definition.
    The bodies are plain SQL without Jinja, every statement idempotent.
-#}

{% macro hotdash_facts_ddl() -%}
-- The app's append-only table of Shopify facts. Its id must come from the identity (a sequence
-- with cache 1, the default): ids are handed out in the order writers ask for them, which the
-- judge's watermark relies on (README "On a live database").
create table if not exists public.facts (
    id bigint generated always as identity primary key,
    shop_domain text not null,
    topic text not null,
    value jsonb not null,
    created_at timestamptz not null default now()
);

-- Incremental staging reads one topic past a cursor on id.
create index if not exists facts_topic_id_idx on public.facts (topic, id);

-- Source freshness per shop and topic.
create index if not exists facts_shop_topic_created_at_idx
    on public.facts (shop_domain, topic, created_at);
{%- endmacro %}

{% macro hotdash_ops_ddl() -%}
create schema if not exists ops;

-- One row per `hotdash build`: inserted as running when it starts, closed when it ends,
-- also when it fails (status failed, with the error) or is interrupted (cancelled). A run whose
-- process died (kill -9, a crash, the database restarting) is marked abandoned by the next
-- build or `hotdash status`, with the step it was in.
create table if not exists ops.build_runs (
    run_id uuid primary key,
    started_at timestamptz not null default now(),
    ended_at timestamptz,
    status text not null default 'running'
        check (status in ('running', 'success', 'failed', 'cancelled', 'abandoned')),
    command_args jsonb not null default '[]',
    error_message text,
    error_type text,
    exit_code integer,
    failed_step text,
    steps jsonb not null default '[]'
);

-- Columns added since the table was first made. ALTER TABLE takes an exclusive lock even when
-- there is nothing to add, which would make readers of ops.pipeline_health wait on every
-- build: it runs only when a column is missing. inputs_fingerprint: what the build's results
-- depend on (runner/inputs.py); a build whose inputs equal the last build's, which succeeded,
-- skips dbt.
do $hotdash$
begin
    if (
        select count(*) from information_schema.columns
        where
            table_schema = 'ops' and table_name = 'build_runs'
            and column_name in (
                'current_step', 'client_pid', 'client_host', 'backend_pid', 'backend_start',
                'inputs_fingerprint'
            )
    ) < 6 then
        alter table ops.build_runs
            add column if not exists current_step text,
            add column if not exists client_pid integer,
            add column if not exists client_host text,
            add column if not exists backend_pid integer,
            add column if not exists backend_start timestamptz,
            add column if not exists inputs_fingerprint text;
    end if;
end
$hotdash$;

-- Tables made before 'abandoned' existed get the wider check.
do $hotdash$
begin
    if exists (
        select 1 from pg_constraint
        where
            conrelid = 'ops.build_runs'::regclass
            and contype = 'c'
            and pg_get_constraintdef(oid) like '%status%'
            and pg_get_constraintdef(oid) not like '%abandoned%'
    ) then
        alter table ops.build_runs drop constraint build_runs_status_check;
        alter table ops.build_runs add constraint build_runs_status_check
            check (status in ('running', 'success', 'failed', 'cancelled', 'abandoned'));
    end if;
end
$hotdash$;

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
do $hotdash$
begin
    if (
        select count(*) from information_schema.columns
        where
            table_schema = 'ops' and table_name = 'contract_results'
            and column_name in ('status', 'unexpected_share', 'relation', 'message')
    ) < 4 then
        alter table ops.contract_results
            add column if not exists status text,
            add column if not exists unexpected_share double precision,
            add column if not exists relation text,
            add column if not exists message text;
    end if;
end
$hotdash$;

-- Logins bound to one shop (`hotdash grants login ai|operator --shop S`): a session of such a
-- login sees the rows of its shop whatever it sets (marts.hotdash_session_shop(), read by the
-- marts' shop policy, is keyed by session_user, which SET ROLE does not change). The key is
-- (login, shop) so that a second shop given to a login is caught by verification, not hidden.
create table if not exists ops.shop_logins (
    login name not null,
    shop_domain text not null check (btrim(shop_domain) <> ''),
    kind text not null check (kind in ('ai', 'operator')),
    created_at timestamptz not null default now(),
    primary key (login, shop_domain)
);

-- One row per run of ops.facts_triage (a batch of judged facts), written in that run's
-- transaction (macros/triage.sql says how the judge uses it). judged_xmin: the oldest
-- transaction still running when the batch began judging. max_fact_id: the highest fact id in
-- facts_triage once the batch was judged. xid_horizon: the next transaction id once the batch had
-- committed; every writer holding a fact id up to max_fact_id has a transaction id below it.
-- inherited_through: on a full refresh's batch, the watermark settled before it began (every fact
-- up to it had committed or will never exist, so the full refresh judged them all).
create table if not exists ops.facts_triage_batches (
    judge_batch bigint primary key,
    judged_xmin xid8 not null,
    max_fact_id bigint,
    judged_at timestamptz not null default now(),
    xid_horizon xid8,
    inherited_through bigint
);

-- The accounting check (tests/dbt/assert_every_fact_is_accounted_for.sql) on an incremental night
-- reads only what no passing check has read (macros/triage.sql, accounting_*): accounted_at, when
-- a passing check covered the batch; accounted_through, the watermark it verified up to;
-- all_checked_at, when a passing check read every fact. Added to a table made before them, as
-- inherited_through (above) is.
do $hotdash$
begin
    if (
        select count(*) from information_schema.columns
        where
            table_schema = 'ops' and table_name = 'facts_triage_batches'
            and column_name in (
                'accounted_at', 'accounted_through', 'all_checked_at', 'inherited_through'
            )
    ) < 4 then
        alter table ops.facts_triage_batches
            add column if not exists accounted_at timestamptz,
            add column if not exists accounted_through bigint,
            add column if not exists all_checked_at timestamptz,
            add column if not exists inherited_through bigint;
    end if;
end
$hotdash$;

-- The judge's watermark: the highest fact id up to which every fact is judged or will never
-- commit (0: none). A batch's max_fact_id is settled once a later sealed batch (committed: its
-- xid_horizon is set, so not the batch being judged) began with no transaction below the
-- batch's horizon still running; a full refresh's batch keeps the watermark settled before it
-- (inherited_through). macros/triage.sql says why. The one definition: the judge, the accounting
-- check and a full refresh's batch (macros/triage.sql, triage_settled_through) and the runner
-- (runner.contracts.settled_through) call it.
create or replace function ops.triage_settled_through()
returns bigint
language sql stable parallel safe
as $hotdash$
    select greatest(
        (
            select coalesce(max(settled.max_fact_id), 0)
            from ops.facts_triage_batches as settled
            where exists (
                select 1 from ops.facts_triage_batches as later
                where
                    later.judge_batch > settled.judge_batch
                    and later.xid_horizon is not null
                    and later.judged_xmin >= settled.xid_horizon
            )
        ),
        (
            select coalesce(max(refreshed.inherited_through), 0)
            from ops.facts_triage_batches as refreshed
        )
    )
$hotdash$;
revoke all on function ops.triage_settled_through() from public;

-- The state of each intermediate model built incrementally (macros/incremental.sql): the as-of
-- date and settings (fingerprint) its rows were computed for, and per source model the highest
-- judge batch it had read (cursors). Written in the model's own transaction, with its rows.
create table if not exists ops.incremental_state (
    model text primary key,
    as_of_date date not null,
    fingerprint text not null,
    cursors jsonb not null,
    built_at timestamptz not null default now()
);

-- The views the project's view materialization created (macros/views.sql): per view, what it
-- was created from (fingerprint) and the view it created (relation_oid). A build leaves a view
-- whose fingerprint is the same and which is still that view as it is.
create table if not exists ops.view_state (
    relation text primary key,
    fingerprint text not null,
    relation_oid oid not null,
    created_at timestamptz not null default now()
);

-- What the incremental order models (int_shopify__order_net_revenue, int_shopify__order_lines)
-- recomputed on each build, for the customer models built from them (macros/incremental.sql,
-- changed_customers): one row per order recomputed, with the customer its rows had before (null
-- for an order that had none), or one row with no order when every row was recomputed. Written in
-- the order model's transaction; a customer model reads past its cursor (seq) and deletes what
-- every reader has read.
create table if not exists ops.order_changes (
    seq bigint generated always as identity primary key,
    model text not null,
    shop_domain text,
    order_id bigint,
    previous_customer_id bigint,
    logged_at timestamptz not null default now(),
    check ((shop_domain is null) = (order_id is null))
);
create index if not exists order_changes_model_seq_idx on ops.order_changes (model, seq);

-- What `hotdash notify` delivers (runner/notify.py, README "Delivery"): one row per message, an
-- alert opened or resolved or a shop's daily briefing, under a stable key
-- ('alert:<alert_id>:opened', 'alert:<alert_id>:resolved', 'briefing:<shop>:<as_of_date>').
-- The text is kept as first made, so a retry sends what the first attempt sent. event_at: when
-- the alert opened or resolved, the briefing's as-of date.
create table if not exists ops.notification_messages (
    key text primary key,
    kind text not null check (kind in ('alert_opened', 'alert_resolved', 'briefing')),
    shop_domain text not null,
    level text not null check (level in ('critical', 'warn', 'resolved', 'info')),
    event_at timestamptz not null,
    alert_id uuid,
    subject text not null,
    body_text text not null,
    body_markdown text not null,
    body_html text,
    created_at timestamptz not null default now()
);

-- One row per message and destination: each attempt, and its outcome. destination is the
-- redacted form of a configured URL (scheme and host, never a user, password or token) or
-- 'outbox'; last_error is redacted too. status: sending (an attempt under way, or one whose
-- process died before its outcome was recorded), delivered, failed. A message is sent to a
-- destination until it is delivered there, and never again after.
create table if not exists ops.notification_deliveries (
    key text not null references ops.notification_messages (key) on delete cascade,
    destination text not null,
    status text not null check (status in ('sending', 'delivered', 'failed')),
    attempts integer not null default 0,
    first_attempt_at timestamptz not null default now(),
    last_attempt_at timestamptz not null default now(),
    delivered_at timestamptz,
    last_error text,
    primary key (key, destination)
);
{%- endmacro %}

{% macro hotdash_alerts_ddl() -%}
-- The operator's alerts (runner/alerts.py evaluates the rules at the end of every build). It lives
-- in schema marts so that apply_security secures it like every mart: forced row-level security,
-- the operator and the AI read their shop's rows only. One row per episode: an alert opens once,
-- is updated while its condition holds (last_seen_at) and is resolved when it clears; when the
-- condition comes back, a new row opens. At most one open row per (shop_domain, rule, subject).
create schema if not exists marts;

create table if not exists marts.alerts (
    alert_id uuid primary key default gen_random_uuid(),
    shop_domain text not null,
    rule text not null,
    subject text not null default '',
    severity text not null check (severity in ('warn', 'critical')),
    message text not null,
    value numeric,
    threshold numeric,
    opened_at timestamptz not null default now(),
    last_seen_at timestamptz not null default now(),
    resolved_at timestamptz,
    opened_by_run uuid,
    resolved_by_run uuid
);

create unique index if not exists alerts_open_idx
    on marts.alerts (shop_domain, rule, subject) where resolved_at is null;
{%- endmacro %}

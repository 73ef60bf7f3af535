{{ staging_config(['shop_domain', 'conversation_id']) }}

with

facts as (
    {{ latest_facts('chatwoot.conversations', ['conversation_id']) }}
),

parsed as (
    select
        facts.id as fact_id,
        facts.judge_batch,
        facts.created_at as fact_created_at,
        facts.shop_domain,
        {{ checked_bigint('payload.id') }} as conversation_id,
        coalesce(
            {{ safe_bigint('payload.account_id') }},
            {{ safe_bigint(json_text('payload.account', 'id')) }}
        ) as account_id,
        {{ checked_bigint('payload.inbox_id') }} as inbox_id,
        {{ safe_string('payload.channel') }} as channel,
        {{ safe_string('payload.status') }} as status,
        {{ safe_string('payload.priority') }} as priority,
        {{ checked_bigint("payload.meta #>> '{assignee,id}'") }} as assignee_id,
        {{ safe_bigint("payload.meta #>> '{team,id}'") }} as team_id,
        {{ safe_bigint("payload.meta #>> '{sender,id}'") }} as contact_id,
        {{ checked_unix_or_iso('payload.created_at') }} as created_at,
        {{ checked_unix_or_iso('payload.first_reply_created_at') }} as first_reply_created_at,
        -- Chatwoot writes a conversation nobody waits on as waiting_since 0.
        nullif(
            {{ checked_unix_or_iso('payload.waiting_since') }},
            timestamptz '1970-01-01 00:00:00+00'
        ) as waiting_since,
        {{ checked_unix_or_iso('payload.last_activity_at') }} as last_activity_at,
        {{ safe_unix_or_iso('payload.snoozed_until') }} as snoozed_until,
        {{ checked_unix_or_iso('payload.updated_at') }} as updated_at,
        {{ safe_string('payload.event') }} as last_event
    from facts
    cross join lateral {{ json_record('facts.value', 'payload', [
        ['id', 'text'], ['account_id', 'text'], ['account', 'jsonb'], ['inbox_id', 'text'],
        ['channel', 'text'], ['status', 'text'], ['priority', 'text'], ['meta', 'jsonb'],
        ['created_at', 'text'], ['first_reply_created_at', 'text'], ['waiting_since', 'text'],
        ['last_activity_at', 'text'], ['snoozed_until', 'text'], ['updated_at', 'text'],
        ['event', 'text'],
    ]) }}
),

final as (
    select * from parsed
)

select * from final

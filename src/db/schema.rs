// @generated automatically by Diesel CLI.

diesel::table! {
    accounts (id) {
        id -> Int8,
        fund_id -> Nullable<Uuid>,
        code -> Text,
        balance -> Numeric,
    }
}

diesel::table! {
    api_clients (id) {
        id -> Uuid,
        name -> Text,
        secret_hash -> Text,
        role -> Text,
        org_id -> Uuid,
        disabled -> Bool,
        created_at -> Timestamptz,
        version -> Int4,
        token_version -> Int4,
    }
}

diesel::table! {
    audit_checkpoints (id) {
        id -> Int8,
        created_at -> Timestamptz,
        heads -> Text,
        streams -> Int8,
        events -> Int8,
        prev_hash -> Text,
        hash -> Text,
        tree_size -> Nullable<Int8>,
        root_hash -> Nullable<Text>,
        note -> Nullable<Text>,
    }
}

diesel::table! {
    checkpoint_cosignatures (checkpoint_id, witness) {
        checkpoint_id -> Int8,
        witness -> Text,
        tree_size -> Int8,
        cosigned_at -> Timestamptz,
        line -> Text,
        received_at -> Timestamptz,
    }
}

diesel::table! {
    audit_events (seq) {
        seq -> Int8,
        stream -> Text,
        stream_seq -> Int8,
        occurred_at -> Timestamptz,
        actor -> Text,
        actor_role -> Text,
        org_id -> Nullable<Uuid>,
        request_id -> Text,
        action -> Text,
        entity_type -> Text,
        entity_id -> Uuid,
        fund_id -> Nullable<Uuid>,
        stage -> Nullable<Text>,
        amount -> Nullable<Numeric>,
        entry_id -> Nullable<Uuid>,
        before_json -> Nullable<Text>,
        after_json -> Nullable<Text>,
        prev_hash -> Text,
        hash -> Text,
    }
}

diesel::table! {
    audit_heads (stream) {
        stream -> Text,
        stream_seq -> Int8,
        hash -> Text,
    }
}

diesel::table! {
    book_years (id) {
        id -> Uuid,
        year -> Int4,
        state -> Text,
        reason -> Nullable<Text>,
        requested_by -> Nullable<Uuid>,
        requested_at -> Nullable<Timestamptz>,
        closed_by -> Nullable<Uuid>,
        closed_at -> Nullable<Timestamptz>,
        rejected_by -> Nullable<Uuid>,
        rejected_at -> Nullable<Timestamptz>,
        rejection_reason -> Nullable<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    case_actors (case_id, actor_id, duty) {
        case_id -> Uuid,
        case_type -> Text,
        actor_id -> Uuid,
        duty -> Text,
        first_at -> Timestamptz,
    }
}

diesel::table! {
    fee_declarations (id) {
        id -> Uuid,
        org_id -> Uuid,
        period -> Date,
        version -> Int4,
        payroll_total -> Numeric,
        fee_rate -> Numeric,
        remit_rate -> Numeric,
        fee_due -> Numeric,
        remit_due -> Numeric,
        retained -> Numeric,
        fund_id -> Uuid,
        entry_id -> Nullable<Uuid>,
        created_at -> Timestamptz,
        created_by -> Text,
        upper_rate -> Nullable<Numeric>,
        upper_due -> Nullable<Numeric>,
        scheme -> Text,
    }
}

diesel::table! {
    fee_remit_refunds (id) {
        id -> Uuid,
        org_id -> Uuid,
        period -> Date,
        amount -> Numeric,
        reason -> Text,
        fund_id -> Uuid,
        entry_id -> Uuid,
        created_at -> Timestamptz,
        created_by -> Text,
    }
}

diesel::table! {
    fee_remittances (id) {
        id -> Uuid,
        org_id -> Uuid,
        period -> Date,
        amount -> Numeric,
        fund_id -> Uuid,
        entry_id -> Uuid,
        created_at -> Timestamptz,
        created_by -> Text,
    }
}

diesel::table! {
    fee_payments (id) {
        id -> Uuid,
        org_id -> Uuid,
        period -> Date,
        amount -> Numeric,
        reference -> Text,
        fund_id -> Uuid,
        entry_id -> Uuid,
        created_at -> Timestamptz,
        created_by -> Text,
    }
}

diesel::table! {
    fee_rates (id) {
        id -> Uuid,
        unit_kind -> Text,
        fee_rate -> Numeric,
        remit_rate -> Numeric,
        effective_from -> Date,
        created_at -> Timestamptz,
        upper_rate -> Numeric,
        scheme -> Text,
    }
}

diesel::table! {
    fee_upper_remittances (id) {
        id -> Uuid,
        year -> Int4,
        amount -> Numeric,
        reference -> Text,
        fund_id -> Uuid,
        entry_id -> Uuid,
        created_at -> Timestamptz,
        created_by -> Text,
    }
}

diesel::table! {
    fee_settlements (id) {
        id -> Uuid,
        org_id -> Uuid,
        period -> Date,
        kind -> Text,
        amount -> Numeric,
        fund_id -> Uuid,
        entry_id -> Uuid,
        created_at -> Timestamptz,
        created_by -> Text,
    }
}

diesel::table! {
    fund_sources (id) {
        id -> Uuid,
        fund_id -> Uuid,
        kind -> Text,
        amount -> Numeric,
        matching_ratio -> Nullable<Numeric>,
        description -> Text,
        entry_id -> Uuid,
        created_at -> Timestamptz,
        reference -> Text,
    }
}

diesel::table! {
    funds (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        year -> Int4,
        org_id -> Uuid,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    hardship_applications (id) {
        id -> Uuid,
        fund_id -> Uuid,
        org_id -> Uuid,
        year -> Int4,
        worker_name -> Text,
        id_number_sealed -> Text,
        id_number_hash -> Text,
        id_number_masked -> Text,
        phone_sealed -> Nullable<Text>,
        phone_masked -> Nullable<Text>,
        bank_account_sealed -> Nullable<Text>,
        bank_account_masked -> Nullable<Text>,
        category -> Text,
        level -> Text,
        household_members -> Nullable<Int4>,
        household_monthly_income -> Nullable<Numeric>,
        household_notes -> Nullable<Text>,
        requested_amount -> Numeric,
        approved_amount -> Nullable<Numeric>,
        reason -> Text,
        status -> Text,
        created_by -> Uuid,
        submitted_by -> Nullable<Uuid>,
        reviewed_by -> Nullable<Uuid>,
        approved_by -> Nullable<Uuid>,
        duplicate_override_by -> Nullable<Uuid>,
        duplicate_override_reason -> Nullable<Text>,
        item_id -> Nullable<Uuid>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        campaign_id -> Nullable<Uuid>,
    }
}

diesel::table! {
    hardship_campaigns (id) {
        id -> Uuid,
        fund_id -> Uuid,
        name -> Text,
        kind -> Text,
        budget -> Numeric,
        status -> Text,
        created_by -> Uuid,
        approved_by -> Nullable<Uuid>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    campaign_beneficiaries (id) {
        id -> Uuid,
        campaign_id -> Uuid,
        row_no -> Int4,
        org_id -> Uuid,
        worker_name -> Text,
        id_number_sealed -> Text,
        id_number_hash -> Text,
        id_number_masked -> Text,
        bank_account_sealed -> Text,
        bank_account_masked -> Text,
        amount -> Numeric,
        item_id -> Nullable<Uuid>,
        payment_status -> Nullable<Text>,
        bank_reference -> Nullable<Text>,
        bank_message -> Nullable<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    idempotency_keys (caller, key) {
        caller -> Text,
        key -> Text,
        request_hash -> Text,
        response_status -> Nullable<Int2>,
        response_etag -> Nullable<Text>,
        response_body -> Nullable<Bytea>,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    item_movements (id) {
        id -> Uuid,
        item_id -> Uuid,
        kind -> Text,
        amount -> Numeric,
        payee -> Nullable<Text>,
        method -> Nullable<Text>,
        description -> Nullable<Text>,
        voucher_no -> Nullable<Text>,
        lines_json -> Nullable<Text>,
        entry_id -> Uuid,
        actor -> Text,
        request_id -> Text,
        created_at -> Timestamptz,
        carried_to -> Nullable<Uuid>,
    }
}

diesel::table! {
    item_vouchers (fund_id, voucher_no) {
        fund_id -> Uuid,
        voucher_no -> Text,
        movement_id -> Uuid,
    }
}

diesel::table! {
    township_grants (id) {
        id -> Uuid,
        fund_id -> Uuid,
        org_id -> Uuid,
        year -> Int4,
        basis -> Text,
        purpose -> Text,
        work_plan -> Nullable<Text>,
        members -> Nullable<Int4>,
        requested_amount -> Numeric,
        approved_amount -> Nullable<Numeric>,
        status -> Text,
        created_by -> Uuid,
        submitted_by -> Nullable<Uuid>,
        reviewed_by -> Nullable<Uuid>,
        approved_by -> Nullable<Uuid>,
        item_id -> Nullable<Uuid>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    items (id) {
        id -> Uuid,
        fund_id -> Uuid,
        org_id -> Uuid,
        origin_type -> Text,
        origin_id -> Uuid,
        approved_amount -> Numeric,
        settled_at -> Nullable<Timestamptz>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    journal_entries (id) {
        id -> Uuid,
        kind -> Text,
        fund_id -> Nullable<Uuid>,
        entity_type -> Text,
        entity_id -> Uuid,
        memo -> Text,
        adjusting_reason -> Nullable<Text>,
        request_id -> Text,
        actor -> Text,
        created_at -> Timestamptz,
    }
}

diesel::table! {
    orgs (id) {
        id -> Uuid,
        name -> Text,
        kind -> Text,
        parent_id -> Nullable<Uuid>,
        credit_code -> Nullable<Text>,
        unit_kind -> Nullable<Text>,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
        has_union -> Bool,
        union_founded_on -> Nullable<Date>,
    }
}

diesel::table! {
    postings (id) {
        id -> Int8,
        entry_id -> Uuid,
        account_id -> Int8,
        amount -> Numeric,
    }
}

diesel::table! {
    users (id) {
        id -> Uuid,
        username -> Text,
        password_hash -> Text,
        role -> Text,
        org_id -> Uuid,
        display_name -> Text,
        disabled -> Bool,
        version -> Int4,
        created_at -> Timestamptz,
        token_version -> Int4,
    }
}

diesel::table! {
    appropriations (id) {
        id -> Uuid,
        year -> Int4,
        line_id -> Uuid,
        source_id -> Uuid,
        amount -> Numeric,
        reference -> Text,
        received_on -> Date,
        created_at -> Timestamptz,
        created_by -> Text,
    }
}

diesel::table! {
    budget_lines (id) {
        id -> Uuid,
        year -> Int4,
        code -> Text,
        name -> Text,
        kind -> Text,
        parent_id -> Nullable<Uuid>,
        budget -> Numeric,
        fund_id -> Nullable<Uuid>,
        variance_explanation -> Text,
        version -> Int4,
        created_at -> Timestamptz,
        updated_at -> Timestamptz,
    }
}

diesel::table! {
    fixed_assets (id) {
        id -> Uuid,
        org_id -> Uuid,
        category -> Text,
        name -> Text,
        quantity -> Int4,
        value -> Numeric,
        acquired_on -> Date,
        created_at -> Timestamptz,
        created_by -> Text,
    }
}

diesel::table! {
    line_expenditures (id) {
        id -> Uuid,
        line_id -> Uuid,
        fund_id -> Uuid,
        amount -> Numeric,
        description -> Text,
        voucher_no -> Nullable<Text>,
        spent_on -> Date,
        entry_id -> Uuid,
        created_at -> Timestamptz,
        created_by -> Text,
    }
}

diesel::joinable!(checkpoint_cosignatures -> audit_checkpoints (checkpoint_id));
diesel::joinable!(appropriations -> budget_lines (line_id));
diesel::joinable!(budget_lines -> funds (fund_id));
diesel::joinable!(line_expenditures -> budget_lines (line_id));
diesel::joinable!(fixed_assets -> orgs (org_id));
diesel::joinable!(accounts -> funds (fund_id));
diesel::joinable!(api_clients -> orgs (org_id));
diesel::joinable!(audit_events -> journal_entries (entry_id));
diesel::joinable!(fee_declarations -> funds (fund_id));
diesel::joinable!(fee_declarations -> journal_entries (entry_id));
diesel::joinable!(fee_declarations -> orgs (org_id));
diesel::joinable!(fee_payments -> funds (fund_id));
diesel::joinable!(fee_payments -> journal_entries (entry_id));
diesel::joinable!(fee_payments -> orgs (org_id));
diesel::joinable!(fee_remit_refunds -> funds (fund_id));
diesel::joinable!(fee_remit_refunds -> journal_entries (entry_id));
diesel::joinable!(fee_remit_refunds -> orgs (org_id));
diesel::joinable!(fee_remittances -> funds (fund_id));
diesel::joinable!(fee_remittances -> journal_entries (entry_id));
diesel::joinable!(fee_remittances -> orgs (org_id));
diesel::joinable!(fee_settlements -> funds (fund_id));
diesel::joinable!(fee_settlements -> journal_entries (entry_id));
diesel::joinable!(fee_settlements -> orgs (org_id));
diesel::joinable!(fund_sources -> funds (fund_id));
diesel::joinable!(funds -> orgs (org_id));
diesel::joinable!(campaign_beneficiaries -> hardship_campaigns (campaign_id));
diesel::joinable!(campaign_beneficiaries -> items (item_id));
diesel::joinable!(campaign_beneficiaries -> orgs (org_id));
diesel::joinable!(hardship_applications -> hardship_campaigns (campaign_id));
diesel::joinable!(hardship_campaigns -> funds (fund_id));
diesel::joinable!(hardship_applications -> funds (fund_id));
diesel::joinable!(hardship_applications -> items (item_id));
diesel::joinable!(hardship_applications -> orgs (org_id));
diesel::joinable!(item_movements -> items (item_id));
diesel::joinable!(item_movements -> journal_entries (entry_id));
diesel::joinable!(items -> funds (fund_id));
diesel::joinable!(item_vouchers -> item_movements (movement_id));
diesel::joinable!(township_grants -> items (item_id));
diesel::joinable!(township_grants -> orgs (org_id));
diesel::joinable!(items -> orgs (org_id));
diesel::joinable!(journal_entries -> funds (fund_id));
diesel::joinable!(postings -> accounts (account_id));
diesel::joinable!(postings -> journal_entries (entry_id));
diesel::joinable!(users -> orgs (org_id));

diesel::allow_tables_to_appear_in_same_query!(
    accounts,
    appropriations,
    budget_lines,
    fixed_assets,
    line_expenditures,
    api_clients,
    audit_checkpoints,
    checkpoint_cosignatures,
    campaign_beneficiaries,
    audit_events,
    audit_heads,
    book_years,
    case_actors,
    fee_declarations,
    fee_rates,
    fee_payments,
    fee_remit_refunds,
    fee_remittances,
    fee_upper_remittances,
    fee_settlements,
    fund_sources,
    funds,
    hardship_applications,
    hardship_campaigns,
    idempotency_keys,
    item_movements,
    item_vouchers,
    items,
    journal_entries,
    orgs,
    postings,
    township_grants,
    users,
);

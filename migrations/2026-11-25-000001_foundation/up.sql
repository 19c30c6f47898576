-- Foundation: organisations, people and system clients.
-- Every table of the service keeps its ids as UUIDs (v7, so that keyset pagination by id follows
-- creation order) and its times as timestamptz.

CREATE TABLE orgs (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    kind        text NOT NULL CHECK (kind IN ('federation', 'township_union', 'grassroots_union',
                                               'member_unit', 'upper_union', 'finance_bureau')),
    parent_id   uuid REFERENCES orgs (id),
    -- 统一社会信用代码 (GB 32100): the service checks the check character; the database keeps the shape.
    credit_code text UNIQUE CHECK (credit_code ~ '^[0-9A-HJ-NPQRTUWXY]{18}$'),
    -- Only member units (用人单位) pay union fees, and the fee rate depends on what kind of unit they are.
    unit_kind   text CHECK (unit_kind IN ('administrative', 'public_institution', 'enterprise')),
    version     integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    CONSTRAINT unit_kind_only_for_member_units CHECK (unit_kind IS NULL OR kind = 'member_unit')
);
CREATE INDEX orgs_parent_idx ON orgs (parent_id);

CREATE TABLE users (
    id            uuid PRIMARY KEY,
    username      text NOT NULL UNIQUE CHECK (username ~ '^[A-Za-z0-9._-]{3,64}$'),
    -- argon2id PHC string; the password itself is never stored or logged.
    password_hash text NOT NULL,
    role          text NOT NULL CHECK (role IN ('admin', 'clerk', 'rights_officer', 'org_officer',
                                                'finance_officer', 'leader', 'auditor', 'finance_bureau')),
    org_id        uuid NOT NULL REFERENCES orgs (id),
    display_name  text NOT NULL DEFAULT '' CHECK (length(display_name) <= 200),
    disabled      boolean NOT NULL DEFAULT false,
    version       integer NOT NULL DEFAULT 1 CHECK (version > 0),
    created_at    timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX users_org_idx ON users (org_id);

-- System-to-system callers (the city finance bureau). The secret is shown once at creation and
-- only its argon2id hash is kept.
CREATE TABLE api_clients (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 200),
    secret_hash text NOT NULL,
    role        text NOT NULL CHECK (role IN ('admin', 'clerk', 'rights_officer', 'org_officer',
                                              'finance_officer', 'leader', 'auditor', 'finance_bureau')),
    org_id      uuid NOT NULL REFERENCES orgs (id),
    disabled    boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL DEFAULT now()
);

//! Importing users from the systems Castellan replaces. Every record is checked before
//! anything is written, and the write is one transaction: an import with a single bad record
//! changes nothing. Re-running an import updates or skips, never duplicates: a record
//! matches the existing user with its username (and its id, when the export kept one).

use std::collections::{HashMap, HashSet};

use serde_json::json;

use super::{Core, RequestContext, Result, legacy_hashes::StoredHash};
use crate::{
    domain::{Email, Username},
    store::{ExistingUser, ImportedUser, Revoke},
};

/// One user as read from an export.
#[derive(Debug, Clone)]
pub struct ImportRecord {
    /// The user's id in the old system, kept so that its tokens' `user_id` still resolves.
    pub id: Option<i64>,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub first_name: String,
    pub last_name: String,
    pub is_active: bool,
    pub is_superuser: bool,
    /// Unix time the account was created in the old system.
    pub date_joined: Option<i64>,
    /// `None` leaves roles alone (new users get `user`).
    pub roles: Option<Vec<String>>,
}

/// A record as found in the file: where it is ("line 3", "record 2 (pk 7)"), and its
/// fields or why they could not be read.
#[derive(Debug)]
pub struct ImportRow {
    pub locator: String,
    pub record: std::result::Result<ImportRecord, String>,
}

#[derive(Debug, Default)]
pub struct ImportReport {
    pub created: usize,
    pub updated: usize,
    pub skipped: usize,
    /// (locator, reason) of every record refused.
    pub rejected: Vec<(String, String)>,
    /// False when a record was rejected or the run was a dry run.
    pub written: bool,
}

/// Marks a password hash Django (and passlib) will never match: the account has no usable
/// password. Kept as is, so the account exists but cannot log in with a password.
const UNUSABLE_PREFIX: char = '!';
const MAX_NAME_CHARS: usize = 150;

enum Plan {
    Create(ImportedUser),
    Update(ImportedUser, Consequence),
    Skip,
}

/// What an update means for the user's live sessions.
#[derive(Clone, Copy)]
struct Consequence {
    revoke_sessions: bool,
}

/// What the import knows while it plans: the database as it is, and the file so far.
struct Planner {
    users: Vec<ExistingUser>,
    roles_of: HashMap<i64, Vec<String>>,
    known_roles: HashSet<String>,
    by_username: HashMap<String, usize>,
    by_id: HashMap<i64, usize>,
    by_email: HashMap<String, usize>,
    seen_usernames: HashMap<String, String>,
    seen_emails: HashMap<String, String>,
    seen_ids: HashMap<i64, String>,
    now: i64,
}

impl Core {
    /// Validates every row, then writes all of them in one transaction unless one was
    /// rejected or `dry_run` is set.
    pub async fn import_users(
        &self,
        rows: Vec<ImportRow>,
        dry_run: bool,
        ctx: &RequestContext,
    ) -> Result<ImportReport> {
        let (users, roles_of) = self.store.users_for_import().await?;
        let known_roles = self.store.role_names().await?.into_iter().collect();
        let mut planner = Planner::new(users, roles_of, known_roles, self.clock.now());
        let mut report = ImportReport::default();
        let (mut updates, mut creates, mut to_revoke) = (Vec::new(), Vec::new(), Vec::new());
        for row in rows {
            let planned = row
                .record
                .and_then(|record| planner.plan(record, &row.locator));
            match planned {
                Ok(Plan::Create(user)) => creates.push(user),
                Ok(Plan::Update(user, consequence)) => {
                    if consequence.revoke_sessions {
                        to_revoke.extend(user.id);
                    }
                    updates.push(user);
                }
                Ok(Plan::Skip) => report.skipped += 1,
                Err(reason) => report.rejected.push((row.locator, reason)),
            }
        }
        report.created = creates.len();
        report.updated = updates.len();
        if !report.rejected.is_empty() || dry_run {
            return Ok(report);
        }
        self.store
            .apply_import(&updates, &creates, self.clock.now())
            .await?;
        report.written = true;
        // A password changed or an account disabled in the old system ends its sessions here.
        for id in to_revoke {
            self.revoke_sessions(Revoke::AllOfUser(id), "import")
                .await?;
        }
        self.audit(
            "users.imported",
            None,
            ctx,
            json!({"created": report.created, "updated": report.updated, "skipped": report.skipped}),
        )
        .await;
        Ok(report)
    }
}

impl Planner {
    fn new(
        users: Vec<ExistingUser>,
        roles_of: HashMap<i64, Vec<String>>,
        known_roles: HashSet<String>,
        now: i64,
    ) -> Self {
        let mut by_username = HashMap::new();
        let mut by_id = HashMap::new();
        let mut by_email = HashMap::new();
        for (i, u) in users.iter().enumerate() {
            by_username.insert(u.username_key.clone(), i);
            by_id.insert(u.id, i);
            if let Some(key) = &u.email_key {
                by_email.insert(key.clone(), i);
            }
        }
        Self {
            users,
            roles_of,
            known_roles,
            by_username,
            by_id,
            by_email,
            seen_usernames: HashMap::new(),
            seen_emails: HashMap::new(),
            seen_ids: HashMap::new(),
            now,
        }
    }

    fn plan(&mut self, mut r: ImportRecord, locator: &str) -> std::result::Result<Plan, String> {
        if let Some(roles) = &mut r.roles {
            roles.sort();
            roles.dedup();
        }
        let username = Username::parse(&r.username).map_err(|m| format!("username: {m}"))?;
        let email = match r.email.trim() {
            "" => None,
            raw => Some(Email::parse(raw).map_err(|m| format!("email: {m}"))?),
        };
        check_password_hash(&r.password_hash)?;
        for (field, value) in [("first_name", &r.first_name), ("last_name", &r.last_name)] {
            if value.chars().count() > MAX_NAME_CHARS {
                return Err(format!("{field}: longer than {MAX_NAME_CHARS} characters"));
            }
        }
        if let Some(unknown) = r
            .roles
            .iter()
            .flatten()
            .find(|role| !self.known_roles.contains(*role))
        {
            return Err(format!("unknown role `{unknown}`"));
        }
        if r.id.is_some_and(|id| id <= 0) {
            return Err("id must be a positive integer".into());
        }
        let username_key = username.key();
        let email_key = email.as_ref().map(Email::key);
        self.claim_once(&username_key, email_key.as_deref(), r.id, locator)?;

        let existing = self.by_username.get(&username_key).map(|&i| &self.users[i]);
        if let Some(id) = r.id
            && let Some(&i) = self.by_id.get(&id)
            && existing.is_none_or(|e| e.id != id)
        {
            return Err(format!(
                "id {id} already belongs to user `{}`",
                self.users[i].username
            ));
        }
        if let Some(key) = &email_key
            && let Some(&i) = self.by_email.get(key)
            && existing.is_none_or(|e| e.id != self.users[i].id)
        {
            return Err(format!(
                "email already used by user `{}`",
                self.users[i].username
            ));
        }
        let email = email
            .as_ref()
            .map_or(String::new(), |e| e.as_str().to_owned());
        let Some(existing) = existing else {
            return Ok(Plan::Create(ImportedUser {
                id: r.id,
                username: username.as_str().to_owned(),
                username_key,
                email,
                email_key,
                imported_password_hash: Some(r.password_hash.clone()),
                password_hash: r.password_hash,
                first_name: r.first_name,
                last_name: r.last_name,
                is_active: r.is_active,
                is_superuser: r.is_superuser,
                created_at: r.date_joined.unwrap_or(self.now),
                roles: Some(r.roles.unwrap_or_else(|| vec!["user".into()])),
            }));
        };
        if let Some(id) = r.id.filter(|id| *id != existing.id) {
            return Err(format!(
                "username `{}` is user id {} here, not {id}",
                existing.username, existing.id
            ));
        }
        let Some(imported) = existing.imported_password_hash.as_deref() else {
            return Err(format!(
                "username `{}` belongs to an account that was not created by an import",
                existing.username
            ));
        };
        self.plan_update(existing, imported, r, email, email_key)
    }

    /// Usernames, emails and ids must be unique within the file too.
    fn claim_once(
        &mut self,
        username_key: &str,
        email_key: Option<&str>,
        id: Option<i64>,
        locator: &str,
    ) -> std::result::Result<(), String> {
        if let Some(first) = self.seen_usernames.get(username_key) {
            return Err(format!("duplicate username (also on {first})"));
        }
        if let Some(first) = email_key.and_then(|k| self.seen_emails.get(k)) {
            return Err(format!("duplicate email (also on {first})"));
        }
        if let Some(first) = id.and_then(|id| self.seen_ids.get(&id)) {
            return Err(format!("duplicate id (also on {first})"));
        }
        self.seen_usernames
            .insert(username_key.to_owned(), locator.to_owned());
        if let Some(key) = email_key {
            self.seen_emails.insert(key.to_owned(), locator.to_owned());
        }
        if let Some(id) = id {
            self.seen_ids.insert(id, locator.to_owned());
        }
        Ok(())
    }

    /// The password is replaced only while the account still has the hash the last import
    /// wrote: once Castellan re-hashed it on login or the user changed it here, Castellan
    /// owns it and an older export must not bring back the old password.
    fn plan_update(
        &self,
        existing: &ExistingUser,
        imported: &str,
        r: ImportRecord,
        email: String,
        email_key: Option<String>,
    ) -> std::result::Result<Plan, String> {
        let replace_password = existing.password_hash == imported && r.password_hash != imported;
        let current_roles = self.roles_of.get(&existing.id).cloned().unwrap_or_default();
        let roles = r.roles;
        let roles_change = roles.as_ref().is_some_and(|roles| *roles != current_roles);
        let changed = replace_password
            || roles_change
            || existing.email != email
            || existing.first_name != r.first_name
            || existing.last_name != r.last_name
            || existing.is_active != r.is_active
            || existing.is_superuser != r.is_superuser;
        if !changed {
            return Ok(Plan::Skip);
        }
        let (password_hash, imported_password_hash) = if replace_password {
            (r.password_hash.clone(), r.password_hash)
        } else {
            (existing.password_hash.clone(), imported.to_owned())
        };
        let consequence = Consequence {
            revoke_sessions: replace_password || (existing.is_active && !r.is_active),
        };
        Ok(Plan::Update(
            ImportedUser {
                id: Some(existing.id),
                username: existing.username.clone(),
                username_key: existing.username_key.clone(),
                email,
                email_key,
                password_hash,
                imported_password_hash: Some(imported_password_hash),
                first_name: r.first_name,
                last_name: r.last_name,
                is_active: r.is_active,
                is_superuser: r.is_superuser,
                created_at: self.now,
                roles: roles.filter(|_| roles_change),
            },
            consequence,
        ))
    }
}

fn check_password_hash(hash: &str) -> std::result::Result<(), String> {
    if hash.is_empty() {
        return Err(format!(
            "password_hash is empty (write `{UNUSABLE_PREFIX}` for an account without a usable password)"
        ));
    }
    if hash.starts_with(UNUSABLE_PREFIX) {
        return Ok(());
    }
    StoredHash::parse(hash)
        .map(|_| ())
        .map_err(|reason| format!("password_hash: {reason}"))
}

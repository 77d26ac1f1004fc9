//! Recording by form: one form per event type, drawn from the type's JSON Schema (the same one
//! `accord schema` prints), with the log's ids offered in lists; a preview of the event; the same
//! validation and life-cycle rules as `accord record`, errors shown beside their field; the
//! signed-in token's name as the actor. Forms carry a per-session CSRF token and the server
//! checks `Origin`, so a cross-site POST writes nothing. Readers get no form.

use std::collections::HashMap;

use axum::extract::{Form, Path, Query as UrlQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Extension;
use minijinja::{context, Value};
use serde_json::{Map, Value as Json};

use super::{render, Axes};
use crate::api::tokens::Role;
use crate::api::{blocking, AppState, Caller};
use crate::projections::{self, Views};
use crate::store::{Outcome, StoreError};

/// The session's CSRF token, derived from its sign-in token: forms carry it back.
#[derive(Clone)]
pub struct Csrf(pub String);

impl Csrf {
    pub fn of(token: &str) -> Csrf {
        use sha2::Digest;
        let digest = sha2::Sha256::digest(format!("accord-csrf:{token}").as_bytes());
        Csrf(hex::encode(&digest[..16]))
    }
}

/// The kinds of events an officer records, by what they are about.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "Meetings",
        &[
            "MeetingScheduled",
            "MeetingConfirmed",
            "MeetingRescheduled",
            "MeetingPostponed",
            "MeetingSplit",
            "MeetingAdjourned",
            "MeetingResumed",
            "MeetingCancelled",
            "MeetingHeld",
            "DocumentPosted",
        ],
    ),
    (
        "Decisions and mandates",
        &["DecisionAdopted", "MandateStatusChanged"],
    ),
    (
        "Groups",
        &[
            "GroupEstablished",
            "GroupScopeExtended",
            "LeadOfficerChanged",
            "CoChairsAppointed",
            "TermsOfReferenceAdopted",
            "GroupDissolved",
            "ActivityReported",
        ],
    ),
    (
        "Reports",
        &[
            "ReportDrafted",
            "ReportEndorsed",
            "ReportSubmitted",
            "ReportFiled",
            "AgreementSigned",
        ],
    ),
    (
        "Bodies, Parties and national reports",
        &["BodyRegistered", "PartyJoined", "NationalReportReceived"],
    ),
    ("Corrections", &["EventAmended", "EventRetracted"]),
];

fn recordable(ty: &str) -> bool {
    GROUPS.iter().any(|(_, types)| types.contains(&ty))
}

/// One field of a form.
#[derive(serde::Serialize)]
struct Field {
    name: String,
    label: String,
    /// `text`, `date`, `select`, `checkbox`, `number`, `lines` or `json` (an object).
    kind: &'static str,
    required: bool,
    help: String,
    options: Vec<String>,
    value: String,
    error: Option<String>,
    /// For `lines`: the members of each line, in order, separated by `|`.
    columns: Vec<String>,
}

fn words(name: &str) -> String {
    let s = name.replace('_', " ");
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
        .unwrap_or_default()
}

/// Follows `$ref` and `anyOf [x, null]` to the schema that says what a value is.
fn resolve<'a>(root: &'a Json, s: &'a Json) -> &'a Json {
    if let Some(r) = s.get("$ref").and_then(Json::as_str) {
        let name = r.trim_start_matches("#/$defs/");
        if let Some(d) = root.get("$defs").and_then(|d| d.get(name)) {
            return resolve(root, d);
        }
    }
    if let Some(any) = s.get("anyOf").and_then(Json::as_array) {
        if let Some(x) = any
            .iter()
            .find(|x| x.get("type") != Some(&Json::from("null")))
        {
            return resolve(root, x);
        }
    }
    s
}

fn enum_of(s: &Json) -> Option<Vec<String>> {
    if let Some(e) = s.get("enum").and_then(Json::as_array) {
        return Some(
            e.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect(),
        );
    }
    s.get("oneOf").and_then(Json::as_array).map(|alts| {
        alts.iter()
            .filter_map(|a| {
                a.get("const")
                    .or_else(|| a.get("enum").and_then(|e| e.get(0)))
            })
            .filter_map(|x| x.as_str().map(str::to_string))
            .collect()
    })
}

/// The ids of the log a field names, offered in a list.
fn ids_for(name: &str, ty: &str, views: &Views) -> Option<Vec<String>> {
    let mut v: Vec<String> = match name {
        "meeting" | "for_meeting" if ty == "MeetingScheduled" => return None,
        "meeting" | "for_meeting" => views
            .meetings
            .0
            .keys()
            .cloned()
            .chain(
                views
                    .meetings
                    .1
                    .keys()
                    .filter(|_| ty == "DocumentPosted")
                    .cloned(),
            )
            .collect(),
        "segment" => views.meetings.1.keys().cloned().collect(),
        "group" | "parent" if ty == "GroupEstablished" && name == "group" => return None,
        "group" | "parent" => views.groups.0.keys().cloned().collect(),
        "report" if ty == "ReportDrafted" => return None,
        "report" => views.reports.reports.keys().cloned().collect(),
        "decision" => views.decisions.decisions.keys().cloned().collect(),
        "body" if ty == "BodyRegistered" => return None,
        "body" => views.reporting.body_codes(),
        _ => return None,
    };
    v.sort();
    v.dedup();
    Some(v)
}

fn help_for(s: &Json, described: &Json) -> String {
    let d = described
        .get("description")
        .or_else(|| s.get("description"))
        .and_then(Json::as_str)
        .unwrap_or("");
    d.replace('\n', " ")
}

/// The fields of a form for event type `ty`, from its schema.
fn fields(ty: &str, views: &Views) -> Vec<Field> {
    let Some((_, _, schema)) = crate::domain::schemas()
        .into_iter()
        .find(|(t, _, _)| *t == ty)
    else {
        return Vec::new();
    };
    let root = serde_json::to_value(&schema).unwrap_or(Json::Null);
    let required: Vec<String> = root["required"]
        .as_array()
        .map(|r| {
            r.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    let props = root["properties"].as_object().cloned().unwrap_or_default();
    let mut names: Vec<&String> = props.keys().collect();
    names.sort_by_key(|n| (!required.contains(n), *n));
    for name in names {
        let raw = &props[name.as_str()];
        let s = resolve(&root, raw);
        let mut f = Field {
            name: name.clone(),
            label: words(name),
            kind: "text",
            required: required.contains(name),
            help: help_for(s, raw),
            options: Vec::new(),
            value: String::new(),
            error: None,
            columns: Vec::new(),
        };
        if let Some(ids) = ids_for(name, ty, views) {
            f.kind = "select";
            f.options = ids;
        } else if let Some(e) = enum_of(s) {
            f.kind = "select";
            f.options = e;
        } else if s.get("type") == Some(&Json::from("boolean")) {
            f.kind = "checkbox";
        } else if s.get("type") == Some(&Json::from("integer")) {
            f.kind = "number";
        } else if s.get("type") == Some(&Json::from("array")) {
            f.kind = "lines";
            let item = resolve(&root, &s["items"]);
            if let Some(p) = item.get("properties").and_then(Json::as_object) {
                let req: Vec<String> = item["required"]
                    .as_array()
                    .map(|r| {
                        r.iter()
                            .filter_map(|x| x.as_str().map(str::to_string))
                            .collect()
                    })
                    .unwrap_or_default();
                // The item's own id first (a segment's, a paragraph's, an officer's), then the
                // other required members, then the optional ones.
                let mut cols: Vec<String> = p.keys().cloned().collect();
                let id = |c: &str| matches!(c, "segment" | "paragraph" | "officer");
                cols.sort_by_key(|c| (!id(c), !req.contains(c), c.clone()));
                f.help = format!(
                    "One per line: {} (separated by |; the later ones may be left out)",
                    cols.join(" | ")
                );
                f.columns = cols;
            } else {
                f.help = "One per line".into();
            }
        } else if s.get("type") == Some(&Json::from("object")) {
            // An amendment's corrected data: the whole object, as JSON.
            f.kind = "json";
            f.help = format!(
                "{} As JSON. Pick the event's seq and press Start from it to edit its current data.",
                f.help
            );
        } else if s.get("pattern").and_then(Json::as_str) == Some("^[0-9]{4}-[0-9]{2}-[0-9]{2}$") {
            f.kind = "date";
        }
        out.push(f);
    }
    out
}

/// The event's data from the form's values; `Err((field, message))` where one cannot be read.
fn data(
    fields: &[Field],
    form: &HashMap<String, String>,
) -> Result<Map<String, Json>, (String, String)> {
    let mut data = Map::new();
    for f in fields {
        let raw = form
            .get(&format!("f.{}", f.name))
            .map(|s| s.trim())
            .unwrap_or("");
        let value = match f.kind {
            "checkbox" => {
                if raw.is_empty() {
                    continue;
                }
                Json::Bool(true)
            }
            _ if raw.is_empty() => continue,
            "json" => match serde_json::from_str::<Json>(raw) {
                Ok(v @ Json::Object(_)) => v,
                Ok(_) => {
                    return Err((
                        f.name.clone(),
                        "give a JSON object: { \"field\": value, … }".into(),
                    ))
                }
                Err(e) => return Err((f.name.clone(), format!("not JSON: {e}"))),
            },
            "number" => Json::from(
                raw.parse::<u64>()
                    .map_err(|_| (f.name.clone(), format!("`{raw}` is not a whole number")))?,
            ),
            "lines" => {
                let lines = raw.lines().map(str::trim).filter(|l| !l.is_empty());
                if f.columns.is_empty() {
                    Json::Array(lines.map(Json::from).collect())
                } else {
                    let mut items = Vec::new();
                    for l in lines {
                        let mut item = Map::new();
                        for (c, v) in f.columns.iter().zip(l.split('|').map(str::trim)) {
                            if !v.is_empty() {
                                item.insert(c.clone(), Json::from(v));
                            }
                        }
                        items.push(Json::Object(item));
                    }
                    Json::Array(items)
                }
            }
            _ => Json::from(raw),
        };
        data.insert(f.name.clone(), value);
    }
    Ok(data)
}

/// Whether a POST comes from the dashboard itself. A browser says so in `Sec-Fetch-Site`
/// (`same-origin`); otherwise its `Origin`, when it names one, must be this host. (With the
/// dashboard's `no-referrer` policy a browser sends `Origin: null` on its own forms; the
/// session's CSRF token is checked in every case.)
fn same_origin(headers: &HeaderMap) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = get("sec-fetch-site") {
        return matches!(site, "same-origin" | "none");
    }
    match get("origin") {
        None | Some("null") => true,
        Some(origin) => {
            let host = get("host").unwrap_or("");
            origin
                .split_once("://")
                .is_some_and(|(_, rest)| rest.trim_end_matches('/') == host)
        }
    }
}

fn forbidden(message: &str) -> Response {
    super::PageError(StatusCode::FORBIDDEN, message.to_string()).into_response()
}

fn axes_now() -> Axes {
    Axes {
        query: projections::Query::default(),
        as_of: None,
        known_at: None,
    }
}

/// `/record`: the forms an officer may open.
pub(super) async fn index(Extension(caller): Extension<Caller>) -> Response {
    if caller.role == Role::Reader {
        return forbidden("recording needs a recorder's token; readers see no forms");
    }
    let groups: Vec<Value> = GROUPS
        .iter()
        .map(|(title, types)| context! { title => *title, types => *types })
        .collect();
    render(
        "record.html",
        super::page_ctx(
            "record",
            "Record",
            &caller,
            &axes_now(),
            context! { groups => groups },
        ),
    )
}

fn form_page(
    caller: &Caller,
    csrf: &Csrf,
    ty: &str,
    fields: Vec<Field>,
    occurred: &str,
    outcome: Value,
) -> Response {
    render(
        "record.html",
        super::page_ctx(
            "record",
            &format!("Record: {ty}"),
            caller,
            &axes_now(),
            context! { ty => ty, fields => fields, csrf => csrf.0.clone(), occurred => occurred, outcome => outcome },
        ),
    )
}

/// The views a form of type `ty` offers ids from, or why there is no such form.
async fn form_views(
    state: &AppState,
    ty: &str,
) -> Result<std::sync::Arc<projections::State>, super::PageError> {
    if !recordable(ty) {
        return Err(super::PageError(
            StatusCode::NOT_FOUND,
            format!("no form for `{ty}`"),
        ));
    }
    crate::api::listings::shared(&state.store, &projections::Query::default())
        .await
        .map_err(|e| super::PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
}

/// `GET /record/{type}`: the form; `?seq=N` starts an amendment from event N's data.
pub(super) async fn form(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(csrf): Extension<Csrf>,
    Path(ty): Path<String>,
    UrlQuery(q): UrlQuery<HashMap<String, String>>,
) -> Response {
    if caller.role == Role::Reader {
        return forbidden("recording needs a recorder's token; readers see no forms");
    }
    let views = match form_views(&state, &ty).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let today = chrono::Utc::now().date_naive().to_string();
    let mut fields = fields(&ty, &views.views);
    if let Some(seq) = q.get("seq").filter(|s| !s.trim().is_empty()) {
        let amended = seq.trim().parse::<u64>().ok().map(|n| {
            let store = state.store.clone();
            blocking(move || store.get(n).ok().flatten())
        });
        let amended = match amended {
            Some(read) => read.await,
            None => None,
        };
        let Some(env) = amended else {
            return super::PageError(
                StatusCode::BAD_REQUEST,
                format!("seq: no event {seq} in the log"),
            )
            .into_response();
        };
        for f in &mut fields {
            match f.name.as_str() {
                "seq" => f.value = env.seq.to_string(),
                "data" if f.kind == "json" => {
                    f.value = serde_json::to_string_pretty(&env.data).unwrap_or_default()
                }
                _ => {}
            }
        }
    }
    form_page(&caller, &csrf, &ty, fields, &today, context! {})
}

/// `POST /record/{type}`: preview, or record.
pub(super) async fn submit(
    State(state): State<AppState>,
    Extension(caller): Extension<Caller>,
    Extension(csrf): Extension<Csrf>,
    headers: HeaderMap,
    Path(ty): Path<String>,
    Form(form): Form<HashMap<String, String>>,
) -> Response {
    if caller.role == Role::Reader {
        return forbidden("recording needs a recorder's token");
    }
    if form.get("csrf") != Some(&csrf.0) || !same_origin(&headers) {
        return forbidden("this form did not come from this dashboard's session: nothing recorded");
    }
    let views = match form_views(&state, &ty).await {
        Ok(v) => v,
        Err(e) => return e.into_response(),
    };
    let mut fields = fields(&ty, &views.views);
    for f in &mut fields {
        f.value = form
            .get(&format!("f.{}", f.name))
            .cloned()
            .unwrap_or_default();
    }
    let occurred = form.get("occurred").cloned().unwrap_or_default();
    let fail = |fields: &mut Vec<Field>, field: &str, message: String| -> Value {
        let name = field.trim_start_matches("data.");
        let name = name.split(['.', '[']).next().unwrap_or(name);
        match fields.iter_mut().find(|f| f.name == name) {
            Some(f) => {
                f.error = Some(message);
                context! { error => "The event was not recorded: see the field marked." }
            }
            None => context! { error => format!("{field}: {message}") },
        }
    };
    let data = match data(&fields, &form) {
        Ok(d) => d,
        Err((field, message)) => {
            let outcome = fail(&mut fields, &field, message);
            return with_status(
                StatusCode::BAD_REQUEST,
                form_page(&caller, &csrf, &ty, fields, &occurred, outcome),
            );
        }
    };
    let line =
        serde_json::json!({"type": ty, "occurred": occurred, "actor": caller.name, "data": data});
    let proposed = match crate::input::parse_value(1, line.clone()) {
        Ok(p) => p,
        Err(e) => {
            let outcome = if e.field == "occurred" {
                context! { error => format!("Occurred: {}", e.message) }
            } else {
                fail(&mut fields, &e.field, e.message)
            };
            return with_status(
                StatusCode::BAD_REQUEST,
                form_page(&caller, &csrf, &ty, fields, &occurred, outcome),
            );
        }
    };
    if form.get("action").map(String::as_str) != Some("record") {
        let preview = serde_json::to_string_pretty(&line).unwrap_or_default();
        return form_page(
            &caller,
            &csrf,
            &ty,
            fields,
            &occurred,
            context! { preview => preview },
        );
    }
    match state.store.clone().append_async(vec![proposed]).await {
        Ok(outcomes) => {
            let (seq, note) = match outcomes.first() {
                Some(Outcome::Recorded(env)) => (env.seq, "recorded"),
                Some(Outcome::Duplicate { seq, .. }) => (*seq, "already recorded"),
                None => (0, "nothing recorded"),
            };
            let today = chrono::Utc::now().date_naive().to_string();
            let fresh = match crate::api::listings::shared(&state.store, &Default::default()).await
            {
                Ok(now) => self::fields(&ty, &now.views),
                Err(_) => self::fields(&ty, &Views::default()),
            };
            form_page(
                &caller,
                &csrf,
                &ty,
                fresh,
                &today,
                context! { recorded => seq, note => note, trail => format!("/trail?since={seq}") },
            )
        }
        Err(StoreError::Refused { field, message, .. }) => {
            let outcome = fail(&mut fields, &field, message);
            with_status(
                StatusCode::BAD_REQUEST,
                form_page(&caller, &csrf, &ty, fields, &occurred, outcome),
            )
        }
        Err(
            e @ (StoreError::Rejected { .. }
            | StoreError::IdConflict { .. }
            | StoreError::Conflict { .. }),
        ) => {
            let outcome = context! { error => e.to_string() };
            with_status(
                StatusCode::BAD_REQUEST,
                form_page(&caller, &csrf, &ty, fields, &occurred, outcome),
            )
        }
        Err(e) => {
            super::PageError(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response()
        }
    }
}

fn with_status(status: StatusCode, mut r: Response) -> Response {
    *r.status_mut() = status;
    r
}

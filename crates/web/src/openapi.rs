//! What every operation of our OpenAPI documents has in common, added in one place so that
//! no handler's annotation can forget it and the documents describe what the services
//! really answer (checked by schemathesis in CI, `scripts/contract`):
//!
//! - the `api_key` bearer scheme, required everywhere except on the public paths
//!   (health, unsubscribe), which say so with an empty `security` list;
//! - the error answers the shared plumbing gives on any route: 400 for a malformed URL or
//!   query, 401 and 403 where a credential is needed, 404 where the path names something,
//!   413, 415 and the invalid-body status where a body is read, 429 when a rate limit is hit
//!   and 503 while the database is unreachable;
//! - every problem answer as `application/problem+json` (RFC 9457), never
//!   `application/json`.

use utoipa::openapi::path::Operation;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::openapi::{
    Content, OpenApi, Ref, RefOr, ResponseBuilder, Schema,
    schema::{ObjectBuilder, SchemaType, Type},
};

/// Name of the security scheme every authenticated operation requires.
pub const API_KEY_SCHEME: &str = "api_key";

/// What any URL parameter must match: no NUL byte (see `refuse_nul_bytes`).
const NO_NUL: &str = r"^[^\x00]*$";

/// The media type of every error answer.
pub const PROBLEM_JSON: &str = "application/problem+json";

/// The conventions, as a utoipa modifier (`modifiers(&API_CONVENTIONS)`).
#[derive(Debug, Clone, Copy)]
pub struct ApiConventions {
    /// Paths anyone may call without a key (health checks, unsubscribe links).
    pub public_paths: &'static [&'static str],
    /// The status a well-formed JSON body of the wrong shape gets (422 in conversation-api,
    /// 400 in metadata-query).
    pub invalid_body_status: u16,
    /// Whether writes may answer 409: a conversation rule that depends on what the
    /// conversation holds, or a write that kept colliding with concurrent ones.
    pub conflict_on_writes: bool,
}

impl ApiConventions {
    fn responses_for(
        &self,
        path: &str,
        operation: &Operation,
        is_write: bool,
    ) -> Vec<(u16, &'static str)> {
        let public = self.public_paths.contains(&path);
        let mut statuses = vec![(
            400,
            "A malformed URL or query parameter (or body, where one is read)",
        )];
        if !public {
            statuses.push((401, "No key or token, or one we do not know"));
            statuses.push((
                403,
                "The credential may not do this (a participant token outside its own view)",
            ));
        }
        if path.contains('{') {
            statuses.push((
                404,
                "Nothing by that name in this application (or not visible to the token)",
            ));
        }
        if operation.request_body.is_some() {
            statuses.push((413, "The body is larger than the service accepts"));
            statuses.push((415, "The body is not sent as application/json"));
            statuses.push((
                self.invalid_body_status,
                "The body is JSON of the wrong shape, or a value in it is invalid",
            ));
        }
        if self.conflict_on_writes && is_write {
            statuses.push((
                409,
                "A conversation rule refuses it as things stand (who is in it, which \
                 messages exist, its kind), or concurrent writes kept colliding: retry",
            ));
        }
        statuses.push((
            429,
            "Rate limit reached; `Retry-After` and `RateLimit` say when to come back",
        ));
        statuses.push((
            503,
            "The database is unreachable for the moment; `Retry-After` says when to retry",
        ));
        statuses
    }

    fn apply(&self, path: &str, operation: &mut Operation, is_write: bool) {
        if self.public_paths.contains(&path) {
            operation.security = Some(Vec::new());
        }
        for parameter in operation.parameters.iter_mut().flatten() {
            if let Some(RefOr::T(Schema::Object(schema))) = &mut parameter.schema {
                let is_string = matches!(schema.schema_type, SchemaType::Type(Type::String));
                if is_string && schema.pattern.is_none() {
                    // Refused at the edge with 400 (`refuse_nul_bytes`), so not valid.
                    schema.pattern = Some(NO_NUL.to_owned());
                }
            }
        }
        for (status, description) in self.responses_for(path, operation, is_write) {
            operation
                .responses
                .responses
                .entry(status.to_string())
                .or_insert_with(|| problem_response(description));
        }
        for response in operation.responses.responses.values_mut() {
            if let RefOr::T(response) = response
                && let Some(content) = response.content.shift_remove("application/json")
            {
                let key = if refers_to_problem(&content) {
                    PROBLEM_JSON
                } else {
                    "application/json"
                };
                response.content.insert(key.to_owned(), content);
            }
        }
    }
}

impl utoipa::Modify for ApiConventions {
    fn modify(&self, openapi: &mut OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            API_KEY_SCHEME,
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components
            .schemas
            .entry("Problem".to_owned())
            .or_insert_with(|| RefOr::T(problem_schema()));
        for (path, item) in openapi.paths.paths.iter_mut() {
            if let Some(operation) = &mut item.get {
                self.apply(path, operation, false);
            }
            for operation in [
                &mut item.put,
                &mut item.post,
                &mut item.delete,
                &mut item.patch,
            ]
            .into_iter()
            .flatten()
            {
                self.apply(path, operation, true);
            }
        }
    }
}

fn refers_to_problem(content: &Content) -> bool {
    matches!(&content.schema, Some(RefOr::Ref(r)) if r.ref_location.ends_with("/Problem"))
}

fn problem_response(description: &str) -> RefOr<utoipa::openapi::Response> {
    RefOr::T(
        ResponseBuilder::new()
            .description(description)
            .content(
                PROBLEM_JSON,
                Content::new(Some(RefOr::<Schema>::Ref(Ref::from_schema_name("Problem")))),
            )
            .build(),
    )
}

/// RFC 9457 problem details as every service writes them.
fn problem_schema() -> Schema {
    let string = || ObjectBuilder::new().schema_type(SchemaType::Type(Type::String));
    Schema::Object(
        ObjectBuilder::new()
            .description(Some("RFC 9457 problem details."))
            .property(
                "type",
                string().description(Some("A URI reference naming the kind of problem.")),
            )
            .property("title", string().description(Some("Short summary.")))
            .property(
                "status",
                ObjectBuilder::new()
                    .schema_type(SchemaType::Type(Type::Integer))
                    .description(Some("The HTTP status.")),
            )
            .property(
                "detail",
                string().description(Some("What went wrong with this request.")),
            )
            .required("type")
            .required("title")
            .required("status")
            .required("detail")
            .build(),
    )
}

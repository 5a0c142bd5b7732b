//! The table of API routes: which API answers a method and path.
//!
//! Built once by the loader, which reports clashing routes as diagnostics;
//! the HTTP layer only looks paths up.

use std::collections::BTreeMap;

use super::HttpMethod;

#[derive(Default)]
pub struct RouteTable {
    router: matchit::Router<Vec<(HttpMethod, usize)>>,
}

impl std::fmt::Debug for RouteTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("RouteTable")
    }
}

/// What a request's method and path lead to.
#[derive(Debug, PartialEq)]
pub enum RouteMatch {
    /// The API at this index of `Project::apis`, with the path's parameters
    /// (still percent-encoded, as they stood in the path).
    Found {
        api: usize,
        params: Vec<(String, String)>,
    },
    /// The path exists, but not for this method.
    WrongMethod {
        allowed: Vec<HttpMethod>,
    },
    NotFound,
}

/// A clash found while building the table.
pub struct RouteClash {
    /// Index of the API whose route could not be added.
    pub api: usize,
    pub message: String,
}

/// The route in the router's syntax: `/orders/:id` becomes `/orders/{id}`.
pub fn route_pattern(path: &str) -> String {
    path.split('/')
        .map(|segment| match segment.strip_prefix(':') {
            Some(name) => format!("{{{name}}}"),
            None => segment.to_string(),
        })
        .collect::<Vec<_>>()
        .join("/")
}

impl RouteTable {
    /// Builds the table from `(method, path)` of each API, in order.
    pub fn build<'a>(
        routes: impl IntoIterator<Item = (HttpMethod, &'a str)>,
    ) -> (RouteTable, Vec<RouteClash>) {
        let mut clashes = Vec::new();
        let mut by_pattern: BTreeMap<String, Vec<(HttpMethod, usize)>> = BTreeMap::new();
        let mut display: BTreeMap<String, &str> = BTreeMap::new();
        for (api, (method, path)) in routes.into_iter().enumerate() {
            let pattern = route_pattern(path);
            let entry = by_pattern.entry(pattern.clone()).or_default();
            if entry.iter().any(|(m, _)| *m == method) {
                clashes.push(RouteClash {
                    api,
                    message: format!("another API already answers {} {path}", method.as_str()),
                });
                continue;
            }
            entry.push((method, api));
            display.entry(pattern).or_insert(path);
        }
        let mut table = RouteTable::default();
        for (pattern, apis) in by_pattern {
            let first = apis[0].1;
            if let Err(e) = table.router.insert(pattern.clone(), apis) {
                let message = match e {
                    matchit::InsertError::Conflict { with } => format!(
                        "{} overlaps {}, which another API already takes",
                        display.get(&pattern).copied().unwrap_or(&pattern),
                        with.replace('{', ":").replace('}', "")
                    ),
                    other => other.to_string(),
                };
                clashes.push(RouteClash {
                    api: first,
                    message,
                });
            }
        }
        (table, clashes)
    }

    pub fn find(&self, method: HttpMethod, path: &str) -> RouteMatch {
        let Ok(found) = self.router.at(path) else {
            return RouteMatch::NotFound;
        };
        match found.value.iter().find(|(m, _)| *m == method) {
            Some((_, api)) => RouteMatch::Found {
                api: *api,
                params: found
                    .params
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_string()))
                    .collect(),
            },
            None => RouteMatch::WrongMethod {
                allowed: found.value.iter().map(|(m, _)| *m).collect(),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_routes_methods_and_params() {
        let (table, clashes) = RouteTable::build([
            (HttpMethod::Post, "/orders/:shop"),
            (HttpMethod::Get, "/orders/:shop"),
            (HttpMethod::Get, "/health-check"),
        ]);
        assert!(clashes.is_empty());
        assert_eq!(
            table.find(HttpMethod::Get, "/orders/eu"),
            RouteMatch::Found {
                api: 1,
                params: vec![("shop".into(), "eu".into())]
            }
        );
        assert_eq!(
            table.find(HttpMethod::Delete, "/orders/eu"),
            RouteMatch::WrongMethod {
                allowed: vec![HttpMethod::Post, HttpMethod::Get]
            }
        );
        assert_eq!(table.find(HttpMethod::Get, "/nope"), RouteMatch::NotFound);
    }

    #[test]
    fn reports_duplicates_and_overlaps() {
        let (_, clashes) = RouteTable::build([
            (HttpMethod::Post, "/a/:x"),
            (HttpMethod::Post, "/a/:x"),
            (HttpMethod::Get, "/a/:y"),
        ]);
        let messages: Vec<&str> = clashes.iter().map(|c| c.message.as_str()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(messages[0].contains("already answers POST /a/:x"));
        assert!(messages[1].contains("overlaps"));
    }
}

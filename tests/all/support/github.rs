//! An in-process stand-in for the part of GitHub's REST API that
//! `ci/quayside-ci comment` uses (a pull request's issue comments: list,
//! create, update), since GitHub itself cannot run here. It checks the
//! bearer token and keeps the comments in memory.

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;

/// A comment as the API returns it.
#[derive(Clone, Debug, PartialEq)]
pub struct Comment {
    pub id: u64,
    pub body: String,
}

#[derive(Default)]
struct State {
    comments: Vec<Comment>,
    /// `METHOD path` of every request, in order.
    requests: Vec<String>,
}

pub struct FakeGitHub {
    pub port: u16,
    /// `owner/name` whose pull request `number` it serves.
    pub repository: String,
    pub number: u64,
    token: String,
    state: Arc<Mutex<State>>,
    task: tokio::task::JoinHandle<()>,
}

impl FakeGitHub {
    /// Serves pull request `number` of `repository`, already holding
    /// `comments` (bodies), for requests bearing `token`.
    pub async fn start(repository: &str, number: u64, token: &str, comments: &[&str]) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let state = Arc::new(Mutex::new(State {
            comments: comments
                .iter()
                .enumerate()
                .map(|(index, body)| Comment {
                    id: 100 + index as u64,
                    body: body.to_string(),
                })
                .collect(),
            requests: Vec::new(),
        }));
        let routes = Routes {
            comments: format!("/repos/{repository}/issues/{number}/comments"),
            one_comment: format!("/repos/{repository}/issues/comments/"),
            authorization: format!("Bearer {token}"),
            state: state.clone(),
        };
        let routes = Arc::new(routes);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let routes = routes.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let routes = routes.clone();
                        async move { Ok::<_, hyper::Error>(routes.answer(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeGitHub {
            port,
            repository: repository.to_string(),
            number,
            token: token.to_string(),
            state,
            task,
        }
    }

    /// `GITHUB_API_URL` for the script.
    pub fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    pub fn comments(&self) -> Vec<Comment> {
        self.state.lock().unwrap().comments.clone()
    }

    pub fn requests(&self) -> Vec<String> {
        self.state.lock().unwrap().requests.clone()
    }
}

impl Drop for FakeGitHub {
    fn drop(&mut self) {
        self.task.abort();
    }
}

struct Routes {
    comments: String,
    one_comment: String,
    authorization: String,
    state: Arc<Mutex<State>>,
}

impl Routes {
    async fn answer(&self, request: Request<Incoming>) -> Response<Full<Bytes>> {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let authorized = request
            .headers()
            .get(hyper::header::AUTHORIZATION)
            .is_some_and(|value| value.as_bytes() == self.authorization.as_bytes());
        let body = request.into_body().collect().await.unwrap().to_bytes();
        let mut state = self.state.lock().unwrap();
        state.requests.push(format!("{method} {path}"));
        if !authorized {
            return reply(
                StatusCode::UNAUTHORIZED,
                json!({"message": "Bad credentials"}),
            );
        }
        let sent_body = || {
            serde_json::from_slice::<Value>(&body)
                .ok()
                .and_then(|value| value["body"].as_str().map(str::to_string))
        };
        if path == self.comments && method == Method::GET {
            let list: Vec<Value> = state
                .comments
                .iter()
                .map(|c| json!({"id": c.id, "body": c.body}))
                .collect();
            return reply(StatusCode::OK, Value::Array(list));
        }
        if path == self.comments && method == Method::POST {
            let Some(text) = sent_body() else {
                return reply(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({"message": "no body"}),
                );
            };
            let id = 100 + state.comments.len() as u64;
            state.comments.push(Comment { id, body: text });
            return reply(StatusCode::CREATED, json!({"id": id}));
        }
        if let Some(id) = path.strip_prefix(&self.one_comment)
            && method == Method::PATCH
        {
            let id: u64 = id.parse().unwrap_or(0);
            let text = sent_body();
            if let (Some(comment), Some(text)) =
                (state.comments.iter_mut().find(|c| c.id == id), text)
            {
                comment.body = text;
                return reply(StatusCode::OK, json!({"id": id}));
            }
        }
        reply(StatusCode::NOT_FOUND, json!({"message": "Not Found"}))
    }
}

fn reply(status: StatusCode, value: Value) -> Response<Full<Bytes>> {
    Response::builder()
        .status(status)
        .header(hyper::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(value.to_string())))
        .unwrap()
}

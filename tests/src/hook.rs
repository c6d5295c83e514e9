//! A webhook receiver for the notification tests: it records every POST it
//! gets and answers 503 to as many as it is told to fail, per path.

use serde_json::Value;
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::{Arc, Mutex};

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Delivery {
    /// Its path.
    pub path: String,
    /// Its `Authorization` header.
    pub authorization: Option<String>,
    /// Its body, as JSON (`Null` if it is not).
    pub body: Value,
    /// What the receiver answered.
    pub status: u16,
}

#[derive(Default)]
struct Shared {
    received: Vec<Delivery>,
    /// How many more requests to each path get a 503.
    failing: HashMap<String, u32>,
}

/// A running receiver; it lives as long as the test process.
#[derive(Clone)]
pub struct Hook {
    /// `http://127.0.0.1:PORT`.
    pub url: String,
    shared: Arc<Mutex<Shared>>,
}

impl Hook {
    /// Listens on a free loopback port.
    pub fn start() -> Hook {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind the receiver");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let shared = Arc::new(Mutex::new(Shared::default()));
        let state = shared.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().map_while(Result::ok) {
                let state = state.clone();
                std::thread::spawn(move || {
                    let _ = answer(stream, &state);
                });
            }
        });
        Hook { url, shared }
    }

    /// The next `count` requests to `path` get a 503.
    pub fn fail_next(&self, path: &str, count: u32) {
        self.lock().failing.insert(path.to_string(), count);
    }

    /// Every request so far.
    pub fn deliveries(&self) -> Vec<Delivery> {
        self.lock().received.clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn answer(stream: std::net::TcpStream, state: &Mutex<Shared>) -> std::io::Result<()> {
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let path = line.split_whitespace().nth(1).unwrap_or("/").to_string();
    let (mut length, mut authorization) = (0usize, None);
    loop {
        let mut header = String::new();
        reader.read_line(&mut header)?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':') {
            match name.to_ascii_lowercase().as_str() {
                "content-length" => length = value.trim().parse().unwrap_or(0),
                "authorization" => authorization = Some(value.trim().to_string()),
                _ => {}
            }
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    let status = {
        let mut shared = state.lock().unwrap_or_else(|e| e.into_inner());
        let status = match shared.failing.get_mut(&path) {
            Some(left) if *left > 0 => {
                *left -= 1;
                503
            }
            _ => 200,
        };
        shared.received.push(Delivery {
            path,
            authorization,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            status,
        });
        status
    };
    let reason = if status == 200 {
        "OK"
    } else {
        "Service Unavailable"
    };
    let mut stream = stream;
    write!(
        stream,
        "HTTP/1.1 {status} {reason}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
    )?;
    stream.flush()
}

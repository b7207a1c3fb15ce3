//! The relay wasi:http component: every request makes one outbound `POST {}` to `RELAY_URL`
//! (the bench's no-op sink), reads the whole answer, and gets 200 with no body (502 when the
//! call fails), without reading the request. `cargo xtask bench` serves it beside the empty
//! component: an endpoint through the no-op sinks makes one such call, so the relay is the
//! most any of them can answer on that runtime, and the gap between it and the empty
//! component is what one outbound exchange costs there (host, guest calls, the sink).

#[cfg(target_os = "wasi")]
mod component {
    use wasip2::http::outgoing_handler;
    use wasip2::http::types::{
        Fields, IncomingBody, IncomingRequest, Method, OutgoingBody, OutgoingRequest,
        OutgoingResponse, ResponseOutparam, Scheme,
    };
    use wasip2::io::streams::StreamError;

    wasip2::http::proxy::export!(Relay);

    struct Relay;

    impl wasip2::exports::http::incoming_handler::Guest for Relay {
        fn handle(_request: IncomingRequest, out: ResponseOutparam) {
            let status = if relay().is_some() { 200 } else { 502 };
            let response = OutgoingResponse::new(Fields::new());
            let _ = response.set_status_code(status);
            let body = response.body();
            ResponseOutparam::set(out, Ok(response));
            if let Ok(body) = body {
                let _ = OutgoingBody::finish(body, None);
            }
        }
    }

    /// `RELAY_URL` (`http://host:port/path`) as authority and path, read once per instance
    /// as the functions read their settings (an instance serves many requests under `reuse`).
    fn target() -> Option<&'static (String, String)> {
        static TARGET: std::sync::OnceLock<Option<(String, String)>> = std::sync::OnceLock::new();
        TARGET
            .get_or_init(|| {
                let url = wasip2::cli::environment::get_environment()
                    .into_iter()
                    .find_map(|(name, value)| (name == "RELAY_URL").then_some(value))?;
                let rest = url.strip_prefix("http://")?;
                let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
                let path = if path.is_empty() { "/" } else { path };
                Some((authority.to_owned(), path.to_owned()))
            })
            .as_ref()
    }

    /// One call to [`target`], answered and read to the end.
    fn relay() -> Option<()> {
        let (authority, path) = target()?;
        let body = b"{}";
        let headers = Fields::from_list(&[
            ("content-type".to_owned(), b"application/json".to_vec()),
            (
                "content-length".to_owned(),
                body.len().to_string().into_bytes(),
            ),
        ])
        .ok()?;
        let request = OutgoingRequest::new(headers);
        request.set_method(&Method::Post).ok()?;
        request.set_scheme(Some(&Scheme::Http)).ok()?;
        request.set_authority(Some(authority)).ok()?;
        request.set_path_with_query(Some(path)).ok()?;
        let outgoing = request.body().ok()?;
        let pending = outgoing_handler::handle(request, None).ok()?;
        if let Ok(stream) = outgoing.write() {
            let _ = stream.blocking_write_and_flush(body);
        }
        let _ = OutgoingBody::finish(outgoing, None);
        pending.subscribe().block();
        let response = pending.get()?.ok()?.ok()?;
        let ok = (200..300).contains(&response.status());
        let incoming = response.consume().ok()?;
        {
            let stream = incoming.stream().ok()?;
            loop {
                match stream.blocking_read(64 * 1024) {
                    Ok(_) => {}
                    Err(StreamError::Closed) => break,
                    Err(StreamError::LastOperationFailed(_)) => return None,
                }
            }
        }
        drop(IncomingBody::finish(incoming));
        ok.then_some(())
    }
}

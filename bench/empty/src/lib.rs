//! The empty wasi:http component: every request gets 200 and no body, without reading the
//! request. `cargo xtask bench` serves it on each runtime as the limit an endpoint's no-op-sink
//! throughput is a fraction of: what instantiating a component and answering costs there.

#[cfg(target_os = "wasi")]
mod component {
    use wasip2::http::types::{
        Fields, IncomingRequest, OutgoingBody, OutgoingResponse, ResponseOutparam,
    };

    wasip2::http::proxy::export!(Empty);

    struct Empty;

    impl wasip2::exports::http::incoming_handler::Guest for Empty {
        fn handle(_request: IncomingRequest, out: ResponseOutparam) {
            let response = OutgoingResponse::new(Fields::new());
            // A fresh response always has a body to take; if it had none, answering without
            // one is still an answer.
            let body = response.body();
            ResponseOutparam::set(out, Ok(response));
            if let Ok(body) = body {
                let _ = OutgoingBody::finish(body, None);
            }
        }
    }
}

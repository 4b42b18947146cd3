//! The one read-write part of this crate: reading a domain's persistent
//! XML, defining an edited one (`virDomainDefineXML`) and, when asked,
//! restarting the domain (shutdown, then start), for `isotune tune`. Each
//! call opens its own connection on the worker thread and waits with a
//! deadline, like the scan (see the crate doc, "Never hanging").

use std::time::Duration;

use virt::connect::Connect;
use virt::error::ErrorNumber;

use crate::worker::{CallError, Worker};

/// The deadline of each call. Defining a domain writes its file under
/// /etc/libvirt; that is quick, but a loaded host gets some slack.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a read or define failed: the libvirt call and libvirt's own message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{uri}: {call} failed: {message}")]
pub struct DefineError {
    /// The URI.
    pub uri: String,
    /// The call (`virDomainDefineXML`).
    pub call: String,
    /// libvirt's message (or why there was no answer).
    pub message: String,
    /// The domain does not exist.
    pub no_domain: bool,
}

fn run<R: Send + 'static>(
    uri: &str,
    call: &str,
    f: impl FnOnce(&Connect) -> Result<R, virt::error::Error> + Send + 'static,
    read_only: bool,
) -> Result<R, DefineError> {
    virt::error::clear_error_callback();
    let mut worker = Worker::start(CALL_TIMEOUT);
    let u = uri.to_owned();
    let r = worker.call(move || {
        let conn = if read_only {
            Connect::open_read_only(Some(&u))
        } else {
            Connect::open(Some(&u))
        }?;
        f(&conn)
    });
    let err = |message: String, no_domain: bool| DefineError {
        uri: uri.to_owned(),
        call: call.to_owned(),
        message,
        no_domain,
    };
    match r {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(err(
            e.message().to_string(),
            matches!(e.code(), virt::enumutil::Enum::Known(ErrorNumber::NoDomain)),
        )),
        Err(CallError::Timeout) => Err(err(
            format!("no answer within {} s", CALL_TIMEOUT.as_secs()),
            false,
        )),
        Err(CallError::Panicked | CallError::Abandoned) => {
            Err(err("the libvirt bindings panicked".into(), false))
        }
    }
}

/// The persistent XML of domain `name` (`virsh dumpxml --inactive`).
pub fn inactive_xml(uri: &str, name: &str) -> Result<String, DefineError> {
    let n = name.to_owned();
    run(
        uri,
        &format!("virDomainGetXMLDesc({name}, inactive)"),
        move |c| {
            let d = c.lookup_domain_by_name(&n)?;
            d.xml_desc(virt::sys::VIR_DOMAIN_XML_INACTIVE)
        },
        true,
    )
}

/// Whether domain `name` is running (active).
pub fn is_active(uri: &str, name: &str) -> Result<bool, DefineError> {
    let n = name.to_owned();
    run(
        uri,
        &format!("virDomainIsActive({name})"),
        move |c| c.lookup_domain_by_name(&n)?.is_active(),
        true,
    )
}

/// Defines `xml` as a persistent domain (`virDomainDefineXML`, read-write
/// connection). A running domain keeps running with its live definition;
/// the new one takes effect at its next start. libvirt refusing the XML is
/// an error with libvirt's message, and nothing is changed.
pub fn define_xml(uri: &str, xml: &str) -> Result<(), DefineError> {
    let x = xml.to_owned();
    run(
        uri,
        "virDomainDefineXML",
        move |c| c.define_domain_xml(&x).map(|_| ()),
        false,
    )
}

/// Asks the guest to shut down (`virDomainShutdown`: the ACPI power
/// button for QEMU). Returns once libvirt has passed the request on; the
/// guest may take its time, or ignore it.
pub fn shutdown(uri: &str, name: &str) -> Result<(), DefineError> {
    let n = name.to_owned();
    run(
        uri,
        &format!("virDomainShutdown({name})"),
        move |c| c.lookup_domain_by_name(&n)?.shutdown().map(|_| ()),
        false,
    )
}

/// Starts a defined domain (`virDomainCreate`) with its persistent XML.
pub fn start(uri: &str, name: &str) -> Result<(), DefineError> {
    let n = name.to_owned();
    run(
        uri,
        &format!("virDomainCreate({name})"),
        move |c| c.lookup_domain_by_name(&n)?.create().map(|_| ()),
        false,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// libvirt's test driver (in-process, no daemon): define, read back,
    /// refusal with libvirt's message, and an unknown domain.
    #[test]
    fn define_read_refuse_and_unknown() {
        let uri = "test:///default";
        let xml = "<domain type='test'><name>isotune-define</name><memory>65536</memory>\
                   <os><type>hvm</type></os><devices><disk type='file' device='cdrom'>\
                   <source file='/a.iso'/><target dev='hdc' bus='ide'/><readonly/></disk>\
                   </devices></domain>";
        let e = define_xml(uri, "<domain type='test'><name>x</name></domain>").unwrap_err();
        assert_eq!(e.call, "virDomainDefineXML");
        assert!(!e.message.is_empty());
        assert!(e.to_string().contains("virDomainDefineXML failed"), "{e}");
        // Each call opens its own connection, and test:///default starts
        // fresh with each: reading back is tested against a real libvirtd
        // (crates/cli/tests/tune_libvirt.rs).
        define_xml(uri, xml).unwrap();
        // The test driver's one predefined domain runs.
        assert!(is_active(uri, "test").unwrap());
        let e = inactive_xml(uri, "isotune-no-such-domain").unwrap_err();
        assert!(e.no_domain, "{e:?}");
    }
}

use super::*;

fn codes(text: &str) -> Vec<&'static str> {
    find_secrets(text.as_bytes())
        .iter()
        .map(|found| found.code)
        .collect()
}

// Assembled at run time so that this file itself holds no complete token.
fn token(prefix: &str, body: &str) -> String {
    format!("{prefix}{body}")
}

#[test]
fn private_keys_pem_and_openssh() {
    for label in ["RSA ", "EC ", "", "OPENSSH ", "ENCRYPTED "] {
        let text = format!(
            "-----BEGIN {label}PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END {label}PRIVATE KEY-----\n"
        );
        assert_eq!(codes(&text), vec![CODE_PRIVATE_KEY], "{label}");
    }
    // Near misses: a public key, and a header alone (a string inside a library).
    assert!(codes("-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOC\n").is_empty());
    assert!(codes("\"-----BEGIN RSA PRIVATE KEY-----\"").is_empty());
    // Header strings in a binary: no line break, no block.
    assert!(codes("-----BEGIN RSA PRIVATE KEY-----\0-----BEGIN EC PRIVATE KEY-----\0MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\0").is_empty());
    // A header and a body but no END line.
    assert!(codes("-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n").is_empty());
}

#[test]
fn cloud_keys_and_api_tokens() {
    let aws = token("AKIA", "Z7Q3X5W2R4T6Y8U1");
    assert_eq!(
        codes(&format!("aws_key_id {aws}\n")),
        vec![CODE_AWS_ACCESS_KEY]
    );
    assert!(codes(&token("AKIA", "IOSFODNN7EXAMPLE")).is_empty());
    assert!(codes(&format!("X{aws}")).is_empty());
    assert!(codes(&format!("{aws}0")).is_empty());
    let gcp = "{\n  \"type\": \"service_account\",\n  \"project_id\": \"p\",\n  \"private_key_id\": \"1\",\n  \"private_key\": \"k\"\n}";
    assert_eq!(codes(gcp), vec![CODE_GCP_SERVICE_ACCOUNT]);
    assert!(codes("{\"type\": \"authorized_user\", \"private_key\": \"k\"}").is_empty());
    let stripe = token("sk_live_", "51Hc8aQ2eZvKYlo2C9xW3mPq");
    assert_eq!(codes(&stripe), vec![CODE_STRIPE_KEY]);
    assert!(codes(&token("sk_test_", "51Hc8aQ2eZvKYlo2C9xW3mPq")).is_empty());
    let slack = token("xoxb-", "123456789012-abcdefABCDEF");
    assert_eq!(codes(&slack), vec![CODE_SLACK_TOKEN]);
    let github = token("ghp_", "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3z5A");
    assert_eq!(codes(&github), vec![CODE_GITHUB_TOKEN]);
    assert!(codes(&token("ghp_", "short")).is_empty());
    let pat = token("github_pat_", "11ABCDEFG0123456789_abcdefghijklmnop");
    assert_eq!(codes(&pat), vec![CODE_GITHUB_TOKEN]);
}

#[test]
fn passwords_in_configuration_keys() {
    for line in [
        "password=hunter2hunter2",
        "DB_PASSWORD: \"s3cr3t-Value\"",
        "  \"client_secret\": \"abcd1234efgh\",",
        "export API_KEY='k3y-v4lue-123'",
        "smtp.passwd = Tr0ub4dor",
    ] {
        assert_eq!(codes(line), vec![CODE_PASSWORD], "{line}");
    }
    for line in [
        "password=",
        "password=${DB_PASSWORD}",
        "password: <your password here>",
        "# password=hunter2hunter2",
        "if password == other {",
        "password_file=/run/secrets/db",
        "password = os.environ['DB']",
        "PASSWORD=********",
        "username=alice",
        "passwd:         files",
        "passwd: files",
        "d_grpasswd='define'",
        "base-passwd: spelling-error-in-binary",
        "gnutls_session_get_master_secret: Added.",
    ] {
        assert!(codes(line).is_empty(), "{line}");
    }
}

#[test]
fn matches_never_hold_the_secret() {
    let aws = token("AKIA", "Z7Q3X5W2R4T6Y8U1");
    let text = format!("key={aws}\npassword=hunter2hunter2\n");
    let found = find_secrets(text.as_bytes());
    assert_eq!(found.len(), 2);
    let shown = format!("{found:?}");
    assert!(!shown.contains("Z7Q3X5W2R4T6Y8U1"), "{shown}");
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("AKIA****(16 chars)"), "{shown}");
}

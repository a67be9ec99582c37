<?php
/*
 * The hosted IdP. Entity ID: @BASE_URL@saml2/idp/metadata.php (the
 * __DYNAMIC:1__ default). It signs both the Response and the Assertion, and
 * its NameID is the user's email (format emailAddress). ForceAuthn in an
 * AuthnRequest is honoured (SimpleSAMLphp's default): the login form again
 * despite an IdP session.
 */
$metadata['__DYNAMIC:1__'] = [
    'host' => '__DEFAULT__',
    'privatekey' => 'idp.key',
    'certificate' => 'idp.crt',
    'auth' => 'steward-users',
    // SSO endpoint /saml2/idp/SSOService.php, both bindings in the metadata.
    'SingleSignOnServiceBinding' => [
        'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-Redirect',
        'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
    ],
    'saml20.sign.response' => true,
    'saml20.sign.assertion' => true,
    'signature.algorithm' => 'http://www.w3.org/2001/04/xmldsig-more#rsa-sha256',
    'NameIDFormat' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
    'simplesaml.nameidattribute' => 'email',
    'attributes.NameFormat' => 'urn:oasis:names:tc:SAML:2.0:attrname-format:basic',
];

<?php
/*
 * The SPs (Steward SAML connections). Empty at start; the harness
 * (tests/it/common/saml_idp.rs, register_sp) rewrites this file whole while
 * the server runs. Each entry:
 *   $metadata['SP entity ID'] = [
 *       'AssertionConsumerService' => [[
 *           'Binding' => 'urn:oasis:names:tc:SAML:2.0:bindings:HTTP-POST',
 *           'Location' => 'ACS URL',
 *       ]],
 *       'NameIDFormat' => 'urn:oasis:names:tc:SAML:1.1:nameid-format:emailAddress',
 *       'simplesaml.nameidattribute' => 'email',
 *   ];
 */

ALTER TABLE sign_ups DROP COLUMN organization_invitation_id;
DROP TABLE organization_invitations;

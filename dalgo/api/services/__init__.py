"""What the routes do, apart from HTTP: accounts, tokens, orgs, members and invitations."""

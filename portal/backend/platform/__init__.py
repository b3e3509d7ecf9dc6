"""Platform: settings, errors, database, blob stores, tokens and the hosted (Supabase) backends."""

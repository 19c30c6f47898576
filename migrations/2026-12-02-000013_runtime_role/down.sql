ALTER FUNCTION apply_postings() SECURITY INVOKER RESET search_path;

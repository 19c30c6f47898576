DROP TABLE case_actors;
DROP FUNCTION case_actors_one_duty();

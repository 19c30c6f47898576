DROP TRIGGER hardship_applications_frozen ON hardship_applications;
DROP FUNCTION hardship_applications_frozen();

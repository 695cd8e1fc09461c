"""Forms of the staff, till and portal pages. They check the shape of the input;
the services they feed decide the business rules."""

package udx

// Jain is jain (pathsim_test.go), for the live fairness tests of package
// udx_test.
var Jain = jain

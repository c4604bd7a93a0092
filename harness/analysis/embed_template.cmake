# Writes INPUT (a text file) into OUTPUT as a C++ raw string, allocmeter::report_page_template.
file(READ ${INPUT} text)
string(FIND "${text}" ")template\"" clash)
if(NOT clash EQUAL -1)
  message(FATAL_ERROR "${INPUT} contains the raw string's delimiter )template\"")
endif()
file(WRITE ${OUTPUT} "// Generated from ${INPUT} by embed_template.cmake; edit that file.\nnamespace allocmeter {\nextern const char* const report_page_template;\nconst char* const report_page_template = R\"template(${text})template\";\n}\n")

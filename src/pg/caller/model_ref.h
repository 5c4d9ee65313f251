/* A model reference as users write it: "identifier" or "identifier@version". */
#ifndef PINNACLE_MODEL_REF_H
#define PINNACLE_MODEL_REF_H

#include "postgres.h"

typedef struct PtModelRef
{
	char	   *identifier;
	int32		version;		/* 0: the deployed version */
} PtModelRef;

extern PtModelRef pt_parse_model_ref(const char *text);

/* The model version "identifier[@version]" names as TorchScript bytes, exported by a helper
 * process (predict.c). */
extern bytea *pt_export_model(const char *identifier);

#endif

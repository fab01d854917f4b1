import { Arg, Ctx, Field, GraphQLISODateTime, InputType, Mutation, ObjectType, Query, Resolver } from 'type-graphql';
import { Account } from '../db/entities/index.js';
import { getViewer, signIn, signOut, signUp } from '../domain/account/account.service.js';
import type { Context } from './context.js';

@InputType()
export class SignUpInput {
  @Field(() => String)
  email!: string;

  @Field(() => String, { description: '10 to 200 characters.' })
  password!: string;

  @Field(() => String)
  displayName!: string;
}

@ObjectType({ simpleResolvers: true, description: 'A new session. Send the token as `Authorization: Bearer <token>`.' })
export class AuthPayload {
  @Field(() => Account)
  account!: Account;

  @Field(() => String, { description: 'Shown once; only its hash is stored.' })
  token!: string;

  @Field(() => GraphQLISODateTime)
  expiresAt!: Date;
}

@ObjectType({
  simpleResolvers: true,
  description:
    'What signUp answers, the same whether the email was new or already registered (so signUp does not tell who has an account). Sign in with signIn to get a session.',
})
export class SignUpPayload {
  @Field(() => String, { description: 'The email as stored: trimmed and lower-cased.' })
  email!: string;
}

@Resolver()
export class AccountResolver {
  @Query(() => Account, { nullable: true, description: 'The signed-in account, or null.' })
  viewer(@Ctx() ctx: Context): Promise<Account | null> {
    return getViewer(ctx.em, ctx.actor);
  }

  @Mutation(() => SignUpPayload, {
    description: 'Creates an account unless the email is already registered (then nothing changes; the answer is the same). RATE_LIMITED past SIGNUPS_PER_CLIENT_PER_HOUR.',
  })
  signUp(@Arg('input', () => SignUpInput) input: SignUpInput, @Ctx() ctx: Context): Promise<SignUpPayload> {
    return signUp(ctx.em, { ...input }, ctx.guard);
  }

  @Mutation(() => AuthPayload, {
    description: 'A new session. After a few failures for an email (or from one address) each attempt waits 2^n seconds (RATE_LIMITED, retryAfter), never past SIGNIN_LOCKOUT_MINUTES.',
  })
  signIn(@Arg('email', () => String) email: string, @Arg('password', () => String) password: string, @Ctx() ctx: Context): Promise<AuthPayload> {
    return signIn(ctx.em, { email, password }, { ttlMs: ctx.config.sessionTtlMs }, ctx.guard);
  }

  @Mutation(() => Boolean, { description: 'Ends the session this request was made with.' })
  signOut(@Ctx() ctx: Context): Promise<boolean> {
    return signOut(ctx.em, ctx.actor, ctx.sessionToken, ctx.sessions);
  }
}
